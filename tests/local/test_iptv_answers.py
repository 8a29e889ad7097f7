"""Check-device answers as bytes kept between requests: each must still follow the device's
changes and the calendar, as an answer made afresh would."""

from __future__ import annotations

import datetime as dt
import json

from edgebox.cache.store import Store
from edgebox.iptv.catalog import Catalog
from edgebox.local.iptvanswers import Answers


async def test_a_kept_answer_follows_the_day_and_every_change_of_its_device(
    store: Store,
) -> None:
    now = [dt.datetime(2026, 12, 6, 23, 59, tzinfo=dt.UTC)]
    catalog = await Catalog.load(store, lambda: now[0])
    for kind in ("FTA", "Premium"):
        await catalog.add_channel({"name": kind, "url": f"http://s/{kind}", "type": kind})
    device = await catalog.register(
        "Lobby",
        "TV1",
        allowed_types=("FTA", "Premium"),
        expiry_date=dt.date(2026, 12, 6),
        disabled=False,
    )
    answers = Answers(catalog)

    def check() -> dict[str, object]:
        answer: dict[str, object] = json.loads(
            answers.check_device(catalog.device("TV1"), catalog.now())
        )
        return answer

    first = check()
    assert first["status"] == "active"
    assert [c["type"] for c in first["channels"]] == ["FTA", "Premium"]  # type: ignore[attr-defined]
    assert check() == first

    now[0] += dt.timedelta(minutes=2)  # past midnight UTC: the day after the expiry date
    expired = check()
    assert expired["status"] == "expired"
    assert expired["message"] == "Device subscription has expired"
    assert [c["type"] for c in expired["channels"]] == ["FTA"]  # type: ignore[attr-defined]

    await catalog.update_device(device.duid, {"owner_name": "Bar"})
    assert check()["device"]["owner_name"] == "Bar"  # type: ignore[index]
    await catalog.update_device(device.duid, {"disabled": True})
    assert check() == {
        "status": "disabled",
        "message": "Device is disabled",
        "device": check()["device"],
    }
    assert "channels" not in check()
