"""Every receiver type of Alertmanager 0.33 a team would use, secrets only by file: rendered into
alertmanager.yml that the real `amtool check-config` accepts and the real Alertmanager starts with, and in
prometheus-operator mode into an AlertmanagerConfig the vendored CRD accepts (or refused at its place where
the CRD has no such receiver).

amtool decodes receivers strictly (an unknown field is an error), so its acceptance proves each field name,
`*_file` ones included, exists in Alertmanager 0.33.1; the breaking test renames one and watches it fail.
"""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import threading
import time
import typing
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, require_tool, write_tree
from e2e_support import LocalServer, _QuietHandler, wait_until

from obsgen import crds
from obsgen.live import Alertmanager
from obsgen.model import resolve
from obsgen.operator_routing import operator_alertmanager_config, verify_operator_routes
from obsgen.render import alertmanager, render_all
from obsgen.spec import load_spec_text
from obsgen.spec.errors import SpecError
from obsgen.spec.models import NOT_IN_OPERATOR_MODE, Channel
from obsgen.spec.operator_checks import operator_mode

NS = "obs"


def AMTOOL() -> str:  # noqa: N802 - reads as the tool
    return require_tool("amtool")
CHANNEL_MODELS = typing.get_args(typing.get_args(Channel)[0])


def channels(secrets: str) -> dict[str, dict[str, Any]]:
    """One channel of every type obsgen has, its secrets in files under `secrets`."""
    s = secrets.rstrip("/")
    return {
        "email": {"type": "email", "to": ["ops@example.com"]},
        "slack": {"type": "slack", "channel": "#ops", "api_url_file": f"{s}/slack-url"},
        "pagerduty": {"type": "pagerduty", "routing_key_file": f"{s}/pd-key"},
        "webhook": {"type": "webhook", "url": "http://hook.example.com:9000/", "bearer_token_file": f"{s}/hook"},
        "opsgenie": {"type": "opsgenie", "api_key_file": f"{s}/genie-key"},
        "msteams": {"type": "msteams", "webhook_url_file": f"{s}/teams-url"},
        "msteamsv2": {"type": "msteamsv2", "webhook_url_file": f"{s}/teams-workflow-url"},
        "discord": {"type": "discord", "webhook_url_file": f"{s}/discord-url"},
        "mattermost": {"type": "mattermost", "webhook_url_file": f"{s}/mattermost-url", "channel": "ops"},
        "telegram": {"type": "telegram", "bot_token_file": f"{s}/telegram-token", "chat_id": -1001234567890,
                     "message_thread_id": 7},
        "webex": {"type": "webex", "room_id": "Y2lzY29zcGFyazovL3VzL1JPT00vYmJj", "bot_token_file": f"{s}/webex-token"},
        "pushover": {"type": "pushover", "user_key_file": f"{s}/pushover-user", "token_file": f"{s}/pushover-token"},
        "victorops": {"type": "victorops", "api_key_file": f"{s}/victorops-key", "routing_key": "ops"},
        "jira": {"type": "jira", "api_url": "https://example.atlassian.net", "project": "OPS", "issue_type": "Bug",
                 "username": "alerts@example.com", "password_file": f"{s}/jira-token", "resolve_transition": "Done"},
        "rocketchat": {"type": "rocketchat", "api_url": "https://chat.example.com", "channel": "#ops",
                       "token_file": f"{s}/rc-token", "token_id_file": f"{s}/rc-token-id"},
        "incidentio": {"type": "incidentio", "url_file": f"{s}/incidentio-url",
                       "alert_source_token_file": f"{s}/incidentio-token"},
        "wechat": {"type": "wechat", "corp_id": "ww1234", "agent_id": "1000002", "to_user": "@all",
                   "api_secret_file": f"{s}/wechat-secret"},
        "sns": {"type": "sns", "topic_arn": "arn:aws:sns:eu-west-1:123456789012:payments-alerts",
                "role_arn": "arn:aws:iam::123456789012:role/alertmanager-sns", "subject": "Alerts {{ of }} shop"},
    }


def spec_data(chans: dict[str, dict[str, Any]], operator: bool = False,
              secrets: str = "/etc/alertmanager/secrets") -> dict[str, Any]:
    names = sorted(chans)
    data: dict[str, Any] = {
        "version": 1,
        "project": {"name": "ledger"},
        "services": [{"name": "api", "team": "money", "scrape": {"static": ["api:8080"]},
                      "thresholds": [{"indicator": "error_rate", "warning": "1%", "critical": "5%"}]}],
        "channels": chans,
        "email": {"smarthost": "smtp.example.com:587", "from": "am@example.com", "auth_username": "am",
                  "auth_password_file": f"{secrets}/smtp-password"},
        "routing": {"default": names[0], "severity": {"critical": names, "warning": names[:2]}},
    }
    if operator:
        data["stack"] = {"deploy": ["kubernetes"],
                         "kubernetes": {"namespace": NS, "prometheus_operator": True, "release": "monitoring"}}
    return data


def render(out: Path, data: dict[str, Any]) -> Path:
    text = yaml.safe_dump(data, sort_keys=False)
    return write_tree(out, render_all(resolve(load_spec_text(text, "obsgen.yaml"), "obsgen.yaml")))


def problems_of(data: dict[str, Any]) -> list[str]:
    try:
        load_spec_text(yaml.safe_dump(data, sort_keys=False), "obsgen.yaml")
    except SpecError as e:
        return e.lines()
    return []


def make_secrets(secrets: Path, chans: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each secret file, holding a value unique to it; returns path -> value."""
    secrets.mkdir(parents=True, exist_ok=True)
    values = {}
    for name, ch in chans.items():
        for field, path in ch.items():
            if field.endswith("_file"):
                values[path] = f"https://secret.example.com/{name}-{field}-s3cr3t"
                Path(path).write_text(values[path] + "\n")
    return values


def test_every_type_is_exercised() -> None:
    """The all-channels spec has one channel of each type the spec knows: a new type joins the proofs below."""
    types = {m.model_fields["type"].annotation.__args__[0] for m in CHANNEL_MODELS}  # type: ignore[union-attr]
    assert types == {ch["type"] for ch in channels("/s").values()}


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, str]]:
    tmp = tmp_path_factory.mktemp("channels")
    chans = channels(str(tmp / "secrets"))
    values = make_secrets(tmp / "secrets", chans)
    (tmp / "secrets/smtp-password").write_text("smtp-s3cr3t\n")
    values["smtp"] = "smtp-s3cr3t"
    out = render(tmp / "out", spec_data(chans, secrets=str(tmp / "secrets")))
    return out, chans, values


def test_each_type_renders_its_receiver_with_secrets_by_file(plain: tuple[Path, dict[str, Any], dict[str, str]]) -> None:
    out, chans, values = plain
    cfg = yaml.safe_load((out / "alertmanager/alertmanager.yml").read_text())
    receivers = {r["name"]: r for r in cfg["receivers"]}
    for name, ch in chans.items():
        integrations = {k: v for k, v in receivers[name].items() if k != "name"}
        assert list(integrations) == [f"{ch['type']}_configs"], name
        rendered = json.dumps(integrations)
        for field, path in ch.items():
            if field.endswith("_file"):
                assert json.dumps(path) in rendered, f"{name}: {path} is not in its receiver"
    # secrets by reference only: no secret file's content anywhere in the output
    for f in out.rglob("*"):
        if f.is_file():
            text = f.read_text("utf-8", "replace")
            assert not [v for v in values.values() if v in text], f
    assert receivers["webex"]["webex_configs"][0]["http_config"]["authorization"]["credentials_file"] \
        == chans["webex"]["bot_token_file"]
    assert receivers["jira"]["jira_configs"][0]["http_config"]["basic_auth"] == {
        "username": "alerts@example.com", "password_file": chans["jira"]["password_file"]}


def test_amtool_accepts_every_type(plain: tuple[Path, dict[str, Any], dict[str, str]]) -> None:
    out, chans, _ = plain
    proc = subprocess.run([AMTOOL(), "check-config", str(out / "alertmanager/alertmanager.yml")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(chans) + 1} receivers" in proc.stdout  # and obsgen-null


def test_amtool_refuses_a_misnamed_file_field(plain: tuple[Path, dict[str, Any], dict[str, str]],
                                             tmp_path: Path) -> None:
    """The proof above breaks when a rendered field name is wrong: amtool reads every field strictly."""
    out, _, _ = plain
    cfg = yaml.safe_load((out / "alertmanager/alertmanager.yml").read_text())
    receiver = next(r for r in cfg["receivers"] if r["name"] == "rocketchat")
    c = receiver["rocketchat_configs"][0]
    c["tokenid_file"] = c.pop("token_id_file")
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([AMTOOL(), "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "field tokenid_file not found" in proc.stdout + proc.stderr


def test_real_alertmanager_starts_with_every_type(plain: tuple[Path, dict[str, Any], dict[str, str]],
                                                  tmp_path: Path) -> None:
    """The real Alertmanager loads the all-channels configuration (its receivers built, templates parsed) and
    answers /-/ready on 127.0.0.1; stopped by its own handle. It reads secret files only when it notifies
    (it starts with them missing): the delivery test below proves they are read."""
    out, _, _ = plain
    am = Alertmanager(require_tool("alertmanager"), out / "alertmanager/alertmanager.yml", tmp_path)
    try:
        problem = am.wait_ready(time.monotonic() + 30)
        assert problem is None, problem
        assert am.proc.poll() is None
    finally:
        am.stop()
    assert am.proc.returncode is not None


class Recorder(_QuietHandler):
    """Stands in for every service the channels post to: records each request, answers what a client wants."""

    seen: list[tuple[str, dict[str, str], str]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - the base class's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        with self.lock:
            self.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        if self.path.startswith("/sns/"):  # the Query API's answer to Publish
            self.reply(200, b'<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>'
                            b'<MessageId>1</MessageId></PublishResult><ResponseMetadata><RequestId>1</RequestId>'
                            b'</ResponseMetadata></PublishResponse>', "text/xml")
            return
        reply = {"ok": True, "result": {"message_id": 1, "date": 0, "chat": {"id": 1}}} \
            if self.path.startswith("/telegram/") else {"success": True, "status": 0}
        self.reply(200, json.dumps(reply).encode(), "application/json")

    do_GET = do_PUT = do_POST  # noqa: N815


# Channels whose service address Alertmanager lets a config change (a URL in a file, or `api_url`), each
# pointed at the recorder; pushover, pagerduty (whose `url` the spec does not expose), email and wechat keep theirs.
DELIVERED = ("slack", "webhook", "opsgenie", "msteams", "msteamsv2", "discord", "mattermost", "telegram", "webex",
             "victorops", "jira", "rocketchat", "incidentio", "sns")
AWS_KEY_ID = "AKIAOBSGENTEST000001"  # what Alertmanager's environment gives the SNS channel, never its config


def test_real_alertmanager_delivers_with_secrets_read_from_files(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """One alert, every channel that can be pointed at 127.0.0.1: the real Alertmanager reads each secret
    from its file and sends it where the service expects it (URL, path, header), and Telegram gets its
    message escaped for the HTML parse mode it is sent in (Alertmanager runs it as html/template then).
    SNS publishes with the credentials of Alertmanager's environment, signed for the topic's region."""
    binary = require_tool("alertmanager")
    for name, value in (("AWS_ACCESS_KEY_ID", AWS_KEY_ID), ("AWS_SECRET_ACCESS_KEY", "obsgen-test-secret"),
                        ("AWS_EC2_METADATA_DISABLED", "true")):
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    Recorder.seen = []
    server = LocalServer(Recorder)
    base = f"http://{server.address}"
    secrets = tmp_path / "secrets"
    chans = {n: ch for n, ch in channels(str(secrets)).items() if n in DELIVERED}
    make_secrets(secrets, chans)
    for name, ch in chans.items():  # URLs held in files point at the recorder; tokens are unique words
        for field, path in ch.items():
            if field.endswith("_file"):
                Path(path).write_text(f"{base}/{name}/hook\n" if "url" in field else f"tok-{name}-{field}\n")
    for name in ("telegram", "webex", "victorops", "jira", "rocketchat", "opsgenie"):
        chans[name]["api_url"] = f"{base}/{name}/"
    chans["webhook"]["url"] = f"{base}/webhook/hook"
    chans["sns"]["api_url"] = f"{base}/sns/"
    del chans["sns"]["role_arn"]  # assuming it would ask AWS STS, which is not here
    data = spec_data(chans, secrets=str(secrets))
    data["routing"].update(group_wait="0s", group_interval="1s")
    out = render(tmp_path / "out", data)
    am = Alertmanager(binary, out / "alertmanager/alertmanager.yml", tmp_path)
    try:
        assert am.wait_ready(time.monotonic() + 30) is None
        alert = {"labels": {"alertname": "ApiErrorRateHigh", "severity": "critical", "service": "api"},
                 "annotations": {"summary": "Errors <5% & rising", "description": "a<b>c"}}
        request = urllib.request.Request(f"{am.url}/api/v2/alerts", data=json.dumps([alert]).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(request, timeout=5).close()

        def reached() -> set[str]:
            with Recorder.lock:
                return {path.split("/")[1] for path, _, _ in Recorder.seen}

        assert wait_until(lambda: set(DELIVERED) <= reached(), 30), f"not reached: {set(DELIVERED) - reached()}"
    finally:
        am.stop()
        server.close()
    first = {}
    for path, headers, body in Recorder.seen:
        first.setdefault(path.split("/")[1], (path, headers, body))

    def has(name: str, secret: str) -> None:
        path, headers, body = first[name]
        assert secret in path or secret in body or secret in " ".join(headers.values()), (name, secret, first[name])

    has("telegram", "tok-telegram-bot_token_file")  # /bot<token>/sendMessage
    has("webex", "Bearer tok-webex-bot_token_file")
    has("victorops", "tok-victorops-api_key_file")
    has("opsgenie", "GenieKey tok-opsgenie-api_key_file")
    has("rocketchat", "tok-rocketchat-token_file")
    has("rocketchat", "tok-rocketchat-token_id_file")
    has("incidentio", "Bearer tok-incidentio-alert_source_token_file")
    has("webhook", "Bearer tok-webhook-bearer_token_file")
    auth = base64.b64encode(b"alerts@example.com:tok-jira-password_file").decode()
    has("jira", f"Basic {auth}")
    has("sns", f"Credential={AWS_KEY_ID}/")  # AWS Signature Version 4, for SNS in the topic's region
    has("sns", "/eu-west-1/sns/aws4_request")
    sns = dict(urllib.parse.parse_qsl(first["sns"][2]))
    assert sns["Action"] == "Publish" and sns["TopicArn"] == chans["sns"]["topic_arn"], sns
    assert sns["Subject"] == "Alerts {{ of }} shop" and "Errors <5% & rising" in sns["Message"], sns
    for name in ("slack", "msteams", "msteamsv2", "discord", "mattermost"):  # their URL came from its file
        assert first[name][0] == f"/{name}/hook", first[name]
    _, _, body = first["telegram"]
    message = json.loads(body) if body.startswith("{") else dict(urllib.parse.parse_qsl(body))
    assert message["parse_mode"] == "HTML" and str(message["chat_id"]) == "-1001234567890", message
    assert "Errors &lt;5% &amp; rising" in message["text"] and "a&lt;b&gt;c" in message["text"], message["text"]
    assert message["text"].startswith("<b>[FIRING:1] ApiErrorRateHigh (api) critical</b>"), message["text"]


@pytest.mark.parametrize("model", CHANNEL_MODELS, ids=lambda m: m.__name__)
def test_literal_secrets_are_refused_naming_the_file_field(model: Any) -> None:
    chans = channels("/etc/alertmanager/secrets")
    kind = model.model_fields["type"].annotation.__args__[0]
    name = next(n for n, ch in chans.items() if ch["type"] == kind)
    for literal, file_field in model.literal_secrets.items():
        bad = {**chans[name], literal: "s3cr3t"}
        found = problems_of({**spec_data(chans), "channels": {**chans, name: bad}})
        assert any(f"channels.{name}" in p and f"`{literal}` would put a secret" in p and f"`{file_field}`" in p
                   for p in found), found


def test_every_secret_of_a_new_type_is_a_file_field() -> None:
    """No field of the new channel types can carry a secret literally: each one that names a secret is a
    `*_file` path, and each literal a user might write is refused (above)."""
    for model in CHANNEL_MODELS:
        for literal, file_field in model.literal_secrets.items():
            assert literal not in model.model_fields, (model.__name__, literal)
            assert file_field.endswith("_file") and (file_field in model.model_fields or "." in file_field)


def test_incidentio_takes_exactly_one_url_and_telegram_a_chat() -> None:
    chans = channels("/etc/alertmanager/secrets")
    both = {**chans, "incidentio": {**chans["incidentio"], "url": "https://api.incident.io/v2/alert_events/x"}}
    assert any("channels.incidentio" in p and "exactly one of `url` or `url_file`" in p
               for p in problems_of(spec_data(both)))
    creds = {**chans, "incidentio": {"type": "incidentio", "url": "https://u:p@api.incident.io/v2/x",
                                     "alert_source_token_file": "/etc/alertmanager/secrets/t"}}
    assert any("channels.incidentio.url" in p and "credentials in a URL" in p for p in problems_of(spec_data(creds)))
    zero = {**chans, "telegram": {**chans["telegram"], "chat_id": 0}}
    assert any("channels.telegram.chat_id" in p for p in problems_of(spec_data(zero)))


def test_msteams_says_msteamsv2_replaces_it() -> None:
    from obsgen.spec.models import MsTeamsChannel

    assert "retired" in (MsTeamsChannel.__doc__ or "") and "msteamsv2" in (MsTeamsChannel.__doc__ or "")


# --------------------------------------------------------------------------- prometheus-operator mode


def crd_receivers() -> set[str]:
    path = ROOT / "obsgen/crds/alertmanagerconfigs.monitoring.coreos.com.json.gz"
    schema = json.loads(gzip.decompress(path.read_bytes()))["versions"]["v1alpha1"]
    return set(schema["properties"]["spec"]["properties"]["receivers"]["items"]["properties"])


def operator_channels() -> dict[str, dict[str, Any]]:
    return {n: ch for n, ch in channels("/etc/alertmanager/secrets").items() if ch["type"] not in NOT_IN_OPERATOR_MODE}


def test_types_refused_in_operator_mode_are_those_the_crd_lacks() -> None:
    have = crd_receivers()
    for model in CHANNEL_MODELS:
        kind = model.model_fields["type"].annotation.__args__[0]
        assert (f"{kind}Configs" not in have) == (kind in NOT_IN_OPERATOR_MODE), kind


def test_operator_mode_refuses_them_at_their_place() -> None:
    chans = channels("/etc/alertmanager/secrets")
    data = spec_data(chans, operator=True)
    found = problems_of(data)
    for kind in NOT_IN_OPERATOR_MODE:
        assert any(f"channels.{kind}.type" in p and f"AlertmanagerConfig has no {kind} receiver" in p
                   for p in found), found
    assert problems_of(spec_data(operator_channels(), operator=True)) == []
    assert not operator_mode(load_spec_text(yaml.safe_dump(spec_data(chans)), "obsgen.yaml"))


@pytest.fixture(scope="module")
def operator_objects(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    kubectl = require_tool("kubectl")
    out = render(tmp_path_factory.mktemp("operator-channels"), spec_data(operator_channels(), operator=True))
    proc = subprocess.run([kubectl, "kustomize", str(out / "kubernetes")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out, [d for d in yaml.load_all(proc.stdout, Loader=crds.Loader) if d]


def test_operator_receivers_follow_the_crd(operator_objects: tuple[Path, list[dict[str, Any]]]) -> None:
    _, objects = operator_objects
    amc = next(o for o in objects if o["kind"] == "AlertmanagerConfig")
    results = crds.check_custom_resources([amc])
    assert results and all(r.status == "passed" for r in results), [(r.status, r.output) for r in results]
    receivers = {r["name"]: r for r in amc["spec"]["receivers"]}
    for name, ch in operator_channels().items():
        assert set(receivers[name]) == {"name", f"{ch['type']}Configs"}, receivers[name]
    text = json.dumps(amc)
    assert "_file" not in text and "/etc/alertmanager/secrets" not in text  # Secret key references only
    assert receivers["discord"]["discordConfigs"][0]["apiURL"] == {"name": "alertmanager-secrets", "key": "discord-url"}
    assert receivers["webex"]["webexConfigs"][0]["httpConfig"]["authorization"]["credentials"]["key"] == "webex-token"


def test_operator_configuration_is_accepted_by_amtool(operator_objects: tuple[Path, list[dict[str, Any]]],
                                                      tmp_path: Path) -> None:
    """What the operator builds from the AlertmanagerConfig names each integration's fields as Alertmanager
    reads them (amtool decodes strictly), and every alert reaches its receivers there."""
    out, objects = operator_objects
    amc = next(o for o in objects if o["kind"] == "AlertmanagerConfig")
    cfg = operator_alertmanager_config(amc, alertmanager_namespace=NS)
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([AMTOOL(), "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    discord = next(r for r in cfg["receivers"] if r["name"].endswith("/discord"))["discord_configs"][0]
    assert discord["webhook_url_file"] == "/etc/alertmanager/secrets/alertmanager-secrets/discord-url"
    results = verify_operator_routes(out, objects=objects)
    assert [r.status for r in results] == ["passed"], [r.output for r in results]


def test_plain_mode_renders_the_same_receivers_as_the_operator_simulation(
        operator_objects: tuple[Path, list[dict[str, Any]]]) -> None:
    """Field for field (secrets aside), the operator's alertmanager.yml receiver is obsgen's plain one (email
    aside, whose SMTP settings the AlertmanagerConfig carries per receiver)."""
    out, objects = operator_objects
    amc = next(o for o in objects if o["kind"] == "AlertmanagerConfig")
    cfg = operator_alertmanager_config(amc, alertmanager_namespace=NS)
    spec = load_spec_text(yaml.safe_dump(spec_data(operator_channels(), operator=True)), "obsgen.yaml")
    plain = {r["name"]: r for r in alertmanager.receivers(spec)}
    prefix = f"{NS}/ledger/"

    def strip(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if not k.endswith("_file")}
        return [strip(v) for v in x] if isinstance(x, list) else x

    for r in cfg["receivers"]:
        if r["name"].startswith(prefix) and r["name"][len(prefix):] in set(operator_channels()) - {"email"}:
            name = r["name"][len(prefix):]
            assert strip({k: v for k, v in r.items() if k != "name"}) == \
                strip({k: v for k, v in plain[name].items() if k != "name"}), name


def test_sns_takes_no_keys_and_signs_for_the_topics_region(plain: tuple[Path, dict[str, Any], dict[str, str]]) -> None:
    """The SNS channel's credentials come from Alertmanager's environment: keys written in the spec are
    refused, none reaches alertmanager.yml, and its region is the topic's unless the spec names another."""
    chans = channels("/etc/alertmanager/secrets")
    for literal in ("access_key", "secret_key", "sigv4"):
        found = problems_of(spec_data({**chans, "sns": {**chans["sns"], literal: "AKIA0000"}}))
        assert any("channels.sns" in p and f"`{literal}` would put AWS credentials" in p
                   and "AWS_ACCESS_KEY_ID" in p for p in found), found
    for field, value, noun in (("topic_arn", "arn:aws:sns:eu-west-1:1234:alerts", "is not an SNS topic ARN"),
                               ("role_arn", "arn:aws:iam::123456789012:user/bob", "is not an IAM role ARN"),
                               ("region", "Frankfurt", "is not an AWS region")):
        found = problems_of(spec_data({**chans, "sns": {**chans["sns"], field: value}}))
        assert any(f"channels.sns.{field}" in p and noun in p for p in found), found
    out, _, _ = plain
    receivers = {r["name"]: r for r in yaml.safe_load((out / "alertmanager/alertmanager.yml").read_text())["receivers"]}
    sns = receivers["sns"]["sns_configs"][0]
    assert sns["sigv4"] == {"region": "eu-west-1", "role_arn": chans["sns"]["role_arn"]}, sns
    assert sns["subject"] == 'Alerts {{ "{{" }} of }} shop', sns  # written literally, as Alertmanager expands it
    other = alertmanager.receivers(load_spec_text(yaml.safe_dump(spec_data(
        {**chans, "sns": {**chans["sns"], "region": "us-east-2"}})), "obsgen.yaml"))
    assert next(r for r in other if r["name"] == "sns")["sns_configs"][0]["sigv4"]["region"] == "us-east-2"


def test_sns_credentials_reach_the_compose_alertmanager_by_name_only(
        plain: tuple[Path, dict[str, Any], dict[str, str]]) -> None:
    """docker-compose.yml passes the AWS variables on from the environment it is started in (names, no values),
    and the Compose schema accepts it."""
    from obsgen.render.compose import AWS_ENVIRONMENT

    out, _, _ = plain
    compose = yaml.safe_load((out / "docker-compose.yml").read_text())
    assert compose["services"]["alertmanager"]["environment"] == list(AWS_ENVIRONMENT)
    assert "environment" not in compose["services"]["prometheus"]
    proc = subprocess.run([require_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                           str(out / "docker-compose.yml")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
