"""Demo data: the housing offices' contacts. One service centre for the city and one office
per district, with invented addresses in Guilin and invented phone numbers. Idempotent:
an office that exists (the centre, or a district's) is left as it is."""

from __future__ import annotations

import sqlalchemy as sa

from portal.accounts.models import District
from portal.extensions import db
from portal.public.models import Office

HOURS_ZH = "周一至周五 9:00-12:00, 14:30-17:30"
HOURS_EN = "Monday to Friday 9:00-12:00, 14:30-17:30"

CENTRE = {
    "name_zh": "桂林市住房保障服务中心",
    "name_en": "Guilin Housing Security Service Centre",
    "address": "桂林市秀峰区示范路88号政务服务中心三楼",
    "phone": "0773-2801000",
}


def _district_office(district: District, n: int) -> dict[str, str]:
    return {
        "name_zh": f"{district.name_zh}住房保障窗口",
        "name_en": f"{district.name_en} housing office",
        "address": f"桂林市{district.name_zh}民安路{10 + n}号政务服务中心一楼",
        "phone": f"0773-28{n + 1:02d}{(n * 37) % 1000:03d}",
    }


def load_demo_offices() -> int:
    """Create the offices that are missing; returns how many were created."""
    have_centre = db.session.scalar(
        sa.select(sa.func.count()).select_from(Office).where(Office.district_id.is_(None))
    )
    covered = set(
        db.session.scalars(sa.select(Office.district_id).where(Office.district_id.is_not(None)))
    )
    made = 0
    if not have_centre:
        db.session.add(Office(district_id=None, hours_zh=HOURS_ZH, hours_en=HOURS_EN, **CENTRE))
        made += 1
    districts = db.session.scalars(sa.select(District).order_by(District.sort_order, District.id))
    for n, district in enumerate(districts, start=1):
        if district.id in covered:
            continue
        db.session.add(
            Office(
                district_id=district.id,
                hours_zh=HOURS_ZH,
                hours_en=HOURS_EN,
                **_district_office(district, n),
            )
        )
        made += 1
    db.session.flush()
    return made
