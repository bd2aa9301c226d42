"""What starts runs without a client calling StartRun, through the sync
client: cron schedules, templates, and deployed webhooks."""

from __future__ import annotations

import time

import pytest

from conftest import pure_workflow, unique
from weftflow import InvalidArgumentError, NotFoundError, Weft, WebhookRefused, fire_webhook, from_value, run_status_name


def test_schedules(client: Weft) -> None:
    wf = client.workflows.create(pure_workflow())
    created = client.schedules.create(
        wf.id, cron="0 9 * * 1-5", timezone="America/New_York", input={"company": "Acme"}, catch_up="none"
    )
    assert created.id.startswith("sched_") and created.enabled
    got = client.schedules.get(created.id, next_fire_count=6)
    hours = {t.ToDatetime().hour for t in got.next_fire_times}
    assert len(got.next_fire_times) == 6 and hours <= {13, 14}, "09:00 in New York is 13:00 or 14:00 UTC"
    assert from_value(got.input_data) == {"company": "Acme"}
    assert [s.id for s in client.schedules.list(wf.id)] == [created.id]

    updated = client.schedules.update(created.id, cron="15 7 * * *")
    assert updated.cron_expression == "15 7 * * *" and updated.timezone == "America/New_York"
    assert not client.schedules.pause(created.id).enabled
    assert client.schedules.resume(created.id).enabled
    with pytest.raises(InvalidArgumentError) as bad:
        client.schedules.create(wf.id, cron="not a cron")
    assert bad.value.field_violations
    with pytest.raises(InvalidArgumentError):
        client.schedules.create(wf.id, cron="0 9 * * *", timezone="Nowhere/Special")
    client.schedules.delete(created.id)
    with pytest.raises(NotFoundError):
        client.schedules.get(created.id)


def test_a_schedule_starts_runs(client: Weft) -> None:
    wf = client.workflows.create(pure_workflow())
    schedule = client.schedules.create(wf.id, cron="* * * * * *", input={"company": "Tick"}, overlap_policy="allow")
    deadline = time.monotonic() + 10
    runs = client.runs.list(wf.id, schedule_id=schedule.id)
    while not runs and time.monotonic() < deadline:
        time.sleep(0.1)
        runs = client.runs.list(wf.id, schedule_id=schedule.id)
    client.schedules.delete(schedule.id)
    assert runs, "the schedule started a run within 10 s"
    assert runs[0].trigger == "schedule" and runs[0].schedule_id == schedule.id
    assert runs[0].scheduled_at is not None and runs[0].scheduled_at.tzinfo is not None
    assert client.runs.list(wf.id, trigger="manual") == []


def test_templates(client: Weft) -> None:
    builtins = client.templates.list(is_builtin=True)
    assert len(builtins) >= 5 and all(t.is_builtin for t in builtins)
    installed = client.templates.install(builtins[0].id, name=unique("installed"))
    assert installed.id.startswith("wf_") and installed.version == 1

    wf = client.workflows.create(pure_workflow())
    saved = client.templates.create(unique("mine"), category="testing", from_workflow=wf.id, version=1)
    assert not saved.is_builtin
    assert saved.id in [t.id for t in client.templates.list(category="testing", is_builtin=False)]
    client.templates.delete(saved.id)
    with pytest.raises(NotFoundError):
        client.templates.get(saved.id)


def test_deploy_arm_fire(client: Weft, url: str) -> None:
    wf = client.workflows.create(pure_workflow())
    deployed = client.triggers.deploy(wf.id)
    assert deployed.ok and len(deployed.webhook_secret) >= 32
    hook = f"{url}/v1/hooks/{deployed.trigger.webhook_id}"
    client.triggers.arm(wf.id, window_seconds=60)
    run_id = fire_webhook(hook, deployed.webhook_secret, {"company": "Hooked"})
    list(client.runs.stream(run_id))
    run = client.runs.get(run_id)
    assert run_status_name(run.status) == "completed" and run.trigger == "webhook"
    assert from_value(run.input) == {"company": "Hooked"}

    with pytest.raises(WebhookRefused) as again:
        fire_webhook(hook, deployed.webhook_secret, {"company": "Again"})
    assert again.value.status == 409
    status = client.triggers.status(wf.id)
    assert status.deployed and not status.armed and status.last_run_id == run_id
    assert not client.triggers.undeploy(wf.id).deployed
