"""The official Bitrix24 Python SDK (b24pysdk) against b24-sim.

scripts/test starts `b24-sim serve --users 120` on 127.0.0.1 with an ephemeral port and passes the
JSON line it prints in the file named by B24_SIM_INFO. The SDK hard-codes https://<domain>/rest/
and https://oauth.bitrix24.tech/; the only change made to it here is at the transport: each
request's URL is rewritten to the simulator's loopback address before it is sent. Everything
else (envelopes, errors, token refresh, batch, pagination, `profile`, the Open Lines connector
methods) is the SDK's own code. The connector scenarios use a token built from an install
payload whose `client_endpoint` is `https://<portal>/rest/`, as Bitrix24 hands it over.

Prints one line per scenario and ends with `RESULT passed=N failed=M`.
"""

import ipaddress
import json
import os
import sys
import traceback
import urllib.parse

import requests
import requests.adapters

import b24pysdk
from b24pysdk import BitrixAppLocal, BitrixToken
from b24pysdk.credentials import OAuth

info = json.load(open(os.environ["B24_SIM_INFO"]))
BASE = info["base_url"]
PORTAL = info["portals"][0]
DOMAIN = PORTAL["domain"]
MEMBER = PORTAL["member_id"]
assert ipaddress.ip_address(urllib.parse.urlsplit(BASE).hostname).is_loopback, "loopback only"

_send = requests.adapters.HTTPAdapter.send


def _rewrite(self, request, **kwargs):
    url = urllib.parse.urlsplit(request.url)
    if url.netloc == DOMAIN:
        request.url = urllib.parse.urlunsplit(("http", BASE[len("http://"):], f"/p/{DOMAIN}{url.path}", url.query, ""))
    elif url.netloc.startswith("oauth.bitrix"):
        request.url = urllib.parse.urlunsplit(("http", BASE[len("http://"):], url.path, url.query, ""))
    elif not url.netloc.startswith("127.0.0.1"):
        raise RuntimeError(f"refusing to reach {url.netloc}: loopback only")
    return _send(self, request, **kwargs)


requests.adapters.HTTPAdapter.send = _rewrite

app = BitrixAppLocal(domain=DOMAIN, client_id=info["client_id"], client_secret=info["client_secret"])
token = BitrixToken(
    domain=DOMAIN,
    auth_token=PORTAL["tokens"]["access_token"],
    refresh_token=PORTAL["tokens"]["refresh_token"],
    bitrix_app=app,
)


def sim_calls(method):
    calls = requests.get(f"{BASE}/_sim/calls", timeout=10).json()
    return [c for c in calls if c["method"] == method]


passed = failed = 0


def scenario(name):
    def wrap(fn):
        global passed, failed
        try:
            detail = fn()
            passed += 1
            print(f"ok   {name}: {detail}")
        except Exception as e:  # noqa: BLE001 - every failure is reported, then counted
            failed += 1
            print(f"FAIL {name}: {e!r}")
            traceback.print_exc(file=sys.stdout)
        return fn
    return wrap


@scenario("a call: user.current")
def _():
    r = token.call_method("user.current")
    assert r["result"]["ID"] == "1", r
    assert "time" in r and "operating_reset_at" in r["time"], r
    return f"user {r['result']['ID']} ({r['result']['NAME']})"


@scenario("token refresh on expired_token")
def _():
    old_access, old_refresh = token.auth_token, token.refresh_token
    requests.post(f"{BASE}/_sim/expire", params={"member_id": MEMBER}, timeout=10).raise_for_status()
    r = token.call_method("user.current")
    assert r["result"]["ID"] == "1", r
    assert token.auth_token != old_access and token.refresh_token != old_refresh, "the pair rotated"
    refreshes = sim_calls("oauth/token")
    assert len(refreshes) == 1 and refreshes[0]["status"] == 200, refreshes
    assert refreshes[0]["params"]["grant_type"] == "refresh_token"
    expired = [c for c in sim_calls("user.current") if c["error"] == "expired_token"]
    assert len(expired) == 1, expired
    return "one refresh, the call retried, the pair rotated"


@scenario("app.info on the OAuth server")
def _():
    r = app.get_app_info(token.auth_token)
    assert r.result.client_id == info["client_id"], r.result
    assert r.result.install.member_id == MEMBER, r.result
    assert r.result.user_id == 1, r.result
    return f"client_id and member_id match, token valid until {r.result.expires.isoformat()}"


@scenario("a batch with a $result reference and a failing command")
def _():
    r = token.call_batch({
        "me": ("user.current", {}),
        "same": ("user.get", {"ID": "$result[me][ID]"}),
        "bad": ("no.such.method", {}),
    })
    body = r["result"]
    assert body["result"]["me"]["ID"] == "1", body
    assert body["result"]["same"][0]["ID"] == "1", body
    assert body["result_error"]["bad"]["error"] == "ERROR_METHOD_NOT_FOUND", body
    return "3 commands, reference resolved, error reported per command"


@scenario("a paginated list: user.get over 120 users")
def _():
    before = len(sim_calls("user.get"))
    r = token.call_list("user.get")
    rows = r["result"] if isinstance(r, dict) else list(r)
    ids = [int(u["ID"]) for u in rows]
    assert ids == list(range(1, 121)), ids[:5]
    pages = len(sim_calls("user.get")) - before
    assert pages == 3, pages
    return f"{len(ids)} rows in {pages} pages"


@scenario("a large export: call_list_fast (start=-1)")
def _():
    before = len(sim_calls("user.get"))
    r = token.call_list_fast("user.get")
    rows = r["result"] if isinstance(r, dict) else list(r)
    ids = sorted(int(u["ID"]) for u in rows)
    assert ids == list(range(1, 121)), ids[:5]
    calls = sim_calls("user.get")[before:]
    assert all(c["params"].get("start") in (-1, "-1") for c in calls), [c["params"] for c in calls]
    return f"{len(ids)} rows from {len(calls)} list commands (batched by the SDK), none with a total"


@scenario("an error: unknown method")
def _():
    try:
        token.call_method("no.such.method")
    except b24pysdk.errors.BitrixAPIError as e:
        assert e.status_code == 404, e.status_code
        assert "ERROR_METHOD_NOT_FOUND" in (e.error or str(e)), e
        return f"{type(e).__name__} ({e.error})"
    raise AssertionError("no exception")


@scenario("an error: ERROR_ARGUMENT from crm.timeline.comment.add")
def _():
    try:
        token.call_method("crm.timeline.comment.add", {"fields": {"ENTITY_ID": 1, "ENTITY_TYPE": "spaceship", "COMMENT": "x"}})
    except b24pysdk.errors.BitrixAPIError as e:
        assert e.status_code == 400, e.status_code
        return f"{type(e).__name__} ({e.error})"
    raise AssertionError("no exception")


# The same token as a real install hands it over: `client_endpoint` is https://<portal>/rest/
# (with the trailing slash) and the SDK takes the portal's address from it.
install = requests.get(f"{BASE}/_sim/tokens", params={"member_id": MEMBER}, timeout=10).json()
install |= {"client_endpoint": f"https://{DOMAIN}/rest/", "server_endpoint": "https://oauth.bitrix24.tech/rest/"}
installed = BitrixToken.from_oauth(OAuth.from_dict(install), app)
client = b24pysdk.Client(installed)
CONNECTOR = "wab24_pysdk"
connector_line = {}


@scenario("client_endpoint with its trailing slash, a method appended with /")
def _():
    assert installed.domain == DOMAIN, installed.domain
    r = requests.post(PORTAL["client_endpoint"] + "/profile", json={"auth": install["access_token"]}, timeout=10)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.json()["result"]["ID"] == "1", r.text
    return f"{urllib.parse.urlsplit(PORTAL['client_endpoint']).path}/profile answers"


@scenario("profile through the SDK")
def _():
    request = client.profile()
    raw = request.result
    assert set(raw) >= {"ID", "ADMIN", "NAME", "LAST_NAME", "PERSONAL_GENDER", "TIME_ZONE"}, raw
    profile = request.value
    assert profile.bitrix_id == 1 and profile.admin is True, profile
    return f"user {profile.bitrix_id}, admin={profile.admin}"


@scenario("user.access through the SDK")
def _():
    assert client.user.access(access=["AU"]).result is True
    return "AU granted"


@scenario("imconnector.register and imconnector.list")
def _():
    r = client.imconnector.register(
        bitrix_id=CONNECTOR,
        name="WhatsApp (b24pysdk)",
        icon={"DATA_IMAGE": "data:image/svg+xml,%3Csvg%3E%3C/svg%3E", "COLOR": "#25D366"},
        placement_handler="https://app.test/connector",
    ).result
    assert r == {"result": True}, r
    listed = client.imconnector.list().result
    assert listed.get(CONNECTOR) == "WhatsApp (b24pysdk)", listed
    assert "livechat" in listed and "telegrambot" in listed, listed
    return f"{len(listed)} connectors listed, built-in ones included"


@scenario("imconnector.activate, connector.data.set and status on a new open line")
def _():
    line = int(client.imopenlines.config.add(params={"LINE_NAME": "WhatsApp +7 999"}).result)
    connector_line["line"] = line
    assert client.imconnector.activate(connector=CONNECTOR, line=line, active=True).result is True
    data = {"id": "wa-line-1", "url_im": "https://wa.me/79990000000", "name": "+7 999 000-00-00"}
    assert client.imconnector.connector.data.set(connector=CONNECTOR, line=line, data=data).result is True
    status = client.imconnector.status(connector=CONNECTOR, line=line).result
    assert status["STATUS"] is True and status["CONFIGURED"] is True, status
    return f"line {line}: active and configured"


@scenario("imconnector.send.messages, chat.name.set and send.status.delivery")
def _():
    line = connector_line["line"]
    sent = client.imconnector.send.messages(connector=CONNECTOR, line=line, messages=[{
        "user": {"id": "79991234567", "name": "Anna", "phone": "+79991234567"},
        "message": {"id": "3EB0C0FFEE", "date": 1738065600, "text": "Hello from WhatsApp"},
        "chat": {"id": "79991234567"},
    }]).result
    # The documented result (imconnector-send-messages.md): per message SUCCESS, the message
    # and chat as sent, the session with its chat.
    assert sent["SUCCESS"] is True, sent
    first = sent["DATA"]["RESULT"][0]
    assert first["SUCCESS"] is True and first["message"]["id"] == "3EB0C0FFEE", first
    assert first["chat"]["id"] == "79991234567" and int(first["session"]["CHAT_ID"]) > 0, first
    named = client.imconnector.chat.name.set(
        connector=CONNECTOR, line=line, chat_id="79991234567", name="Anna (WhatsApp)", user_id="79991234567",
    ).result
    assert named["SUCCESS"] is True, named
    # An operator answers in the open line's chat (the simulator's contact center); the
    # connector reports that answer delivered to WhatsApp.
    chat_id = sent["DATA"]["RESULT"][0]["session"]["CHAT_ID"]
    answer = requests.post(f"{BASE}/_sim/center/reply", json={"member_id": MEMBER, "chat_id": chat_id,
                                                            "text": "Hello from the operator"}, timeout=10)
    assert answer.status_code == 200, answer.text
    delivered = client.imconnector.send.status.delivery(connector=CONNECTOR, line=line, messages=[{
        "im": {"chat_id": chat_id, "message_id": answer.json()["message_id"]},
        "message": {"id": ["3EB0C0FFEF"]},
        "chat": {"id": "79991234567"},
    }]).result
    assert delivered["SUCCESS"] is True, delivered
    return "message accepted, chat named, the operator's answer reported delivered"


print(f"b24pysdk {b24pysdk.__version__} against b24-sim at {BASE}: {passed} scenarios passed, {failed} failed")
print(f"RESULT passed={passed} failed={failed}")
sys.exit(1 if failed else 0)
