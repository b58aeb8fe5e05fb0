"""Steps the browser journeys share."""


def sign_in(page, server, identifier: str, *, staff: bool = False) -> None:
    """Sign a demo account in; staff also give a fresh authenticator code."""
    page.goto(server["url"] + "/login")
    page.locator("#identifier").fill(identifier)
    page.locator("#password").fill(server["creds"]["password"])
    page.locator("main form button[type=submit]").click()
    if staff:
        page.locator("#code").fill(server["totp"](identifier))
        page.locator("main form button[type=submit]").click()


def portal_app(server):
    """The portal application on the e2e server's database, to look demo records up."""
    from portal import create_app

    inst = server["instance"]
    return create_app(
        "development",
        instance_path=str(inst),
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{inst / 'portal.db'}",
    )
