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
