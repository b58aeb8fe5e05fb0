"""Demo data: the city of Guilin's districts and counties (seed 001's task table), one
account of every staff role and a few residents. Idempotent; passwords are random per
install and kept in ``instance/demo-accounts.json`` so they can be printed again."""

from __future__ import annotations

import json
import os
import secrets
from datetime import date
from pathlib import Path

import pyotp
import sqlalchemy as sa

from portal.accounts import hashing
from portal.accounts.models import District, DistrictKind, User
from portal.accounts.roles import Role
from portal.accounts.services import id_index, resident_row
from portal.core import audit
from portal.core.clock import utcnow
from portal.core.identifiers import make_id_number
from portal.extensions import db
from portal.verification.demo_data import describe_demo_families, load_demo_registry
from portal.verification.departments import Department

# (division code, Chinese name, English name, kind), in the order of the seed's table
GUILIN = [
    ("450302", "秀峰区", "Xiufeng District", DistrictKind.DISTRICT),
    ("450303", "叠彩区", "Diecai District", DistrictKind.DISTRICT),
    ("450304", "象山区", "Xiangshan District", DistrictKind.DISTRICT),
    ("450305", "七星区", "Qixing District", DistrictKind.DISTRICT),
    ("450311", "雁山区", "Yanshan District", DistrictKind.DISTRICT),
    ("450312", "临桂区", "Lingui District", DistrictKind.DISTRICT),
    ("450300K", "经开区", "Economic and Technological Development Zone", DistrictKind.ZONE),
    ("450321", "阳朔县", "Yangshuo County", DistrictKind.COUNTY),
    ("450323", "灵川县", "Lingchuan County", DistrictKind.COUNTY),
    ("450326", "永福县", "Yongfu County", DistrictKind.COUNTY),
    ("450324", "全州县", "Quanzhou County", DistrictKind.COUNTY),
    ("450325", "兴安县", "Xing'an County", DistrictKind.COUNTY),
    ("450381", "荔浦市", "Lipu City", DistrictKind.COUNTY),
    ("450330", "平乐县", "Pingle County", DistrictKind.COUNTY),
    ("450332", "恭城瑶族自治县", "Gongcheng Yao Autonomous County", DistrictKind.COUNTY),
    ("450327", "灌阳县", "Guanyang County", DistrictKind.COUNTY),
    ("450328", "龙胜各族自治县", "Longsheng Multi-ethnic Autonomous County", DistrictKind.COUNTY),
    ("450329", "资源县", "Ziyuan County", DistrictKind.COUNTY),
]

# username, role, name, districts, department
STAFF = [
    ("demo.admin", Role.ADMIN, "赵明", [], None),
    ("demo.security", Role.SECURITY, "钱芳", [], None),
    ("demo.auditor", Role.AUDITOR, "孙丽", [], None),
    ("demo.manager", Role.MANAGER, "李强", [], None),
    ("demo.officer", Role.OFFICER, "周静", ["450302", "450303", "450304", "450305"], None),
    ("demo.officer2", Role.OFFICER, "吴刚", ["450311", "450312", "450321", "450323"], None),
    *[
        (f"demo.{d.value.replace('_', '-')}", Role.REVIEWER, name, [], d)
        for d, name in zip(
            Department,
            ["郑伟", "王敏", "冯军", "陈洁", "褚磊", "卫红", "蒋涛", "沈燕"],
            strict=True,
        )
    ],
]

# name, region, birth date, sequence, mobile
RESIDENTS = [
    ("张伟", "450302", date(1986, 3, 14), 123, "13807730001"),
    ("李娜", "450303", date(1992, 7, 2), 244, "13807730002"),
    ("王芳", "450305", date(1958, 11, 20), 66, "13807730003"),
    ("刘洋", "450312", date(1999, 1, 9), 315, "13807730004"),
    ("陈静", "450321", date(1975, 5, 28), 482, "13807730005"),
]


def _credentials(instance_path: str) -> dict:
    path = Path(instance_path) / "demo-accounts.json"
    if path.exists():
        return json.loads(path.read_text())
    creds = {"password": _password(), "totp": {u[0]: pyotp.random_base32() for u in STAFF}}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(creds, fh)
    return creds


def _password() -> str:
    words = ["Lijiang", "Osmanthus", "Elephant", "Trunk", "Reed", "Flute", "Karst", "Bamboo"]
    return "-".join(secrets.choice(words) for _ in range(3)) + f"-{secrets.randbelow(90) + 10}"


def load_demo(instance_path: str) -> list[str]:
    """Create what is missing and return lines describing the demo accounts."""
    creds = _credentials(instance_path)
    existing = set(db.session.scalars(sa.select(District.code)))
    for order, (code, zh, en, kind) in enumerate(GUILIN):
        if code not in existing:
            db.session.add(District(code=code, name_zh=zh, name_en=en, kind=kind, sort_order=order))
    db.session.flush()
    districts = {d.code: d for d in db.session.scalars(sa.select(District))}
    pw_hash = hashing.hash_password(creds["password"])
    taken = set(db.session.scalars(sa.select(User.username).where(User.username.is_not(None))))
    created = 0
    for username, role, name, codes, dept in STAFF:
        if username in taken:
            continue
        db.session.add(
            User(
                role=role,
                username=username,
                real_name=name,
                districts=[districts[c] for c in codes],
                department=dept,
                password_hash=pw_hash,
                totp_secret=creds["totp"][username],
                totp_confirmed_at=utcnow(),
                is_demo=True,
            )
        )
        created += 1
    for name, region, birth, seq, mobile in RESIDENTS:
        idn = make_id_number(region, birth, seq)
        if db.session.scalar(sa.select(User.id).where(User.id_number_index == id_index(idn))):
            continue
        db.session.add(resident_row(name, idn, mobile, pw_hash, is_demo=True))
        created += 1
    db.session.flush()
    load_demo_registry()
    if created:
        audit.record("demo.load", actor="cli", accounts=created)
    return describe(creds)


def describe(creds: dict) -> list[str]:
    lines = [
        f"Demo accounts (password for all: {creds['password']})",
        "  Residents sign in with their mobile number or ID number:",
    ]
    for name, region, birth, seq, mobile in RESIDENTS:
        lines.append(f"    {name}  mobile {mobile}  ID {make_id_number(region, birth, seq)}")
    lines.append("  Staff sign in with their name, then a code from an authenticator app")
    lines.append("  (secret below), or from `flask portal demo-code USERNAME`:")
    for username, role, _name, _codes, _dept in STAFF:
        lines.append(f"    {username:<26} {role.value:<9} TOTP secret {creds['totp'][username]}")
    lines.extend(describe_demo_families())
    return lines
