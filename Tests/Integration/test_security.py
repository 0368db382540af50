"""Passwords, ACLs and anonymous access, as Mosquitto's password_file,
acl_file, allow_anonymous and per_listener_settings define them.

Every test runs against each broker in BROKERS with the same files; where
Parley is deliberately stricter than Mosquitto 2.0.11 the test says so.
"""

from __future__ import annotations

import subprocess
import time

import pytest

import mqtt_packets as mp
from helpers import BOTH_PROTOCOLS, V311, V5, RawClient, unique, wait_until
from processes import free_port, parley_exe
from security_helpers import (BAD_CREDENTIALS_V5, NOT_AUTHORIZED, NOT_AUTHORIZED_V3,  # noqa: F401
                              SecuredBroker, client, files, need_mosquitto_passwd, refusal, secured)


def quiet_period():
    """Long enough for a message that should not arrive to have arrived."""
    time.sleep(0.5)


# ------------------------------------------------------------------ passwords

@BOTH_PROTOCOLS
def test_password_file_from_mosquitto_passwd(secured, files, client, proto):
    need_mosquitto_passwd()
    pw = files.mosquitto_passwd("passwords", {"alice": "wonderland", "bob": "builder"})
    b = secured(f"password_file {pw}")
    c = client(b, proto, "alice", "wonderland")
    c.connect()
    assert refusal(b, proto, "alice", "wrong") in ((NOT_AUTHORIZED_V3,) if proto == V311 else BAD_CREDENTIALS_V5)
    assert refusal(b, proto, "mallory", "wonderland") in ((NOT_AUTHORIZED_V3,) if proto == V311 else BAD_CREDENTIALS_V5)
    assert refusal(b, proto, "bob") in ((NOT_AUTHORIZED_V3,) if proto == V311 else BAD_CREDENTIALS_V5)
    assert refusal(b, proto) == (NOT_AUTHORIZED_V3 if proto == V311 else NOT_AUTHORIZED)


@BOTH_PROTOCOLS
def test_password_file_from_parley_passwd(secured, files, client, proto):
    pw = files.parley_passwd("passwords", {"carol": "s3cret: with spaces", "dave": "x"})
    b = secured(f"password_file {pw}")
    client(b, proto, "carol", "s3cret: with spaces").connect()
    client(b, proto, "dave", "x").connect()
    assert refusal(b, proto, "carol", "s3cret") in ((NOT_AUTHORIZED_V3,) if proto == V311 else BAD_CREDENTIALS_V5)


def test_sha512_lines_are_accepted(secured, files, client):
    """The older $6$ lines still found in files from Mosquitto 1.x."""
    path = files.path / "passwords"
    subprocess.run([parley_exe(), "passwd", "-c", "-H", "sha512", "-b", str(path), "old", "timer"],
                   check=True, capture_output=True, timeout=30)
    path.chmod(0o644)
    assert path.read_text().startswith("old:$6$")
    b = secured(f"password_file {path}")
    client(b, V5, "old", "timer").connect()
    assert refusal(b, V5, "old", "timer2") in BAD_CREDENTIALS_V5


def test_mosquitto_command_line_clients_with_password(secured, files):
    pw = files.parley_passwd("passwords", {"eve": "pw"})
    b = secured(f"password_file {pw}")
    ok = subprocess.run(["mosquitto_pub", "-h", b.host, "-p", str(b.port), "-u", "eve", "-P", "pw",
                         "-t", "t", "-m", "x"], capture_output=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(["mosquitto_pub", "-h", b.host, "-p", str(b.port), "-u", "eve", "-P", "nope",
                          "-t", "t", "-m", "x"], capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "not authori" in bad.stderr.lower()


# ------------------------------------------------------------ anonymous access

@BOTH_PROTOCOLS
def test_config_file_without_allow_anonymous_refuses_anonymous(secured, client, proto):
    """Mosquitto 2.0: a configuration file that does not say allow_anonymous
    means false; without a password file a user name alone does not get in."""
    b = secured()
    assert refusal(b, proto) == (NOT_AUTHORIZED_V3 if proto == V311 else NOT_AUTHORIZED)
    assert refusal(b, proto, "someone", "anything") == (NOT_AUTHORIZED_V3 if proto == V311 else NOT_AUTHORIZED)


def test_allow_anonymous_true_with_password_file(secured, files, client):
    pw = files.parley_passwd("passwords", {"alice": "pw"})
    b = secured("allow_anonymous true", f"password_file {pw}")
    client(b, V5).connect()
    client(b, V5, "alice", "pw").connect()
    assert refusal(b, V5, "alice", "bad") in BAD_CREDENTIALS_V5


def test_per_listener_settings(secured, files, client):
    """Anonymous on one port, passwords on another (a common Mosquitto layout)."""
    pw = files.parley_passwd("passwords", {"alice": "pw"})
    second = free_port()
    b = secured("per_listener_settings true", "allow_anonymous true",
                f"listener {second} 127.0.0.1", f"password_file {pw}")
    client(b, V5).connect()
    other = SecuredBroker.__new__(SecuredBroker)
    other.host, other.port, other.name = b.host, second, b.name
    assert refusal(other, V5) == NOT_AUTHORIZED
    assert refusal(other, V311) == NOT_AUTHORIZED_V3
    client(other, V5, "alice", "pw").connect()
    assert refusal(other, V5, "alice", "no") in BAD_CREDENTIALS_V5


# ------------------------------------------------------------------------ ACL

ACL = """
# anonymous clients
topic read public/#

user alice
topic readwrite alice/#
topic read shared/#
topic write inbox/#
topic deny alice/secret

user bob
topic readwrite bob/#
topic readwrite shared/#

pattern readwrite devices/%c/#
pattern read users/%u/#
"""


def acl_broker(secured, files, *extra):
    pw = files.parley_passwd("passwords", {"alice": "a", "bob": "b"})
    acl = files.write("acl", ACL)
    return secured("allow_anonymous true", f"password_file {pw}", f"acl_file {acl}", *extra)


@BOTH_PROTOCOLS
def test_acl_write_denied_publish(secured, files, client, proto):
    b = acl_broker(secured, files)
    watcher = client(b, V5, "bob", "b")
    watcher.connect()
    watcher.subscribe("shared/#", 1)
    alice = client(b, proto, "alice", "a")
    alice.connect()
    info = alice.client.publish("shared/news", b"from alice", 1)
    info.wait_for_publish(5)
    bob = client(b, proto, "bob", "b")
    bob.connect()
    bob.publish("shared/news", b"from bob", 1)
    got = watcher.messages.wait_for(1)
    quiet_period()
    assert [m.payload for m in watcher.messages.snapshot()] == [b"from bob"], got


def test_acl_denied_publish_gets_puback_0x87_v5(secured, files):
    b = acl_broker(secured, files)
    raw = RawClient(b, V5)
    raw.connect(username="alice", password=b"a")
    raw.send(mp.publish("bob/x", b"no", 1, False, False, 7, V5, None))
    ack = raw.expect(mp.PUBACK)
    assert ack.body[2] == NOT_AUTHORIZED
    raw.close()


@BOTH_PROTOCOLS
def test_acl_read_checked_at_delivery(secured, files, client, proto):
    """A subscription to # brings only what the subscriber may read."""
    b = acl_broker(secured, files)
    alice = client(b, proto, "alice", "a")
    alice.connect()
    alice.subscribe("#", 1)
    bob = client(b, V5, "bob", "b")
    bob.connect()
    bob.publish("bob/private", b"hidden", 1)
    bob.publish("shared/open", b"visible", 1)
    got = alice.messages.wait_for(1)
    quiet_period()
    assert [(m.topic, m.payload) for m in alice.messages.snapshot()] == [("shared/open", b"visible")], got


@BOTH_PROTOCOLS
def test_acl_deny_line_wins(secured, files, client, proto):
    b = acl_broker(secured, files)
    alice = client(b, proto, "alice", "a")
    alice.connect()
    alice.subscribe("alice/#", 1)
    alice.publish("alice/secret", b"deny", 1)
    alice.publish("alice/notes", b"ok", 1)
    alice.messages.wait_for(1)
    quiet_period()
    assert [m.topic for m in alice.messages.snapshot()] == ["alice/notes"]


@BOTH_PROTOCOLS
def test_acl_subscription_without_read_access_is_refused(secured, files, client, proto):
    """SUBACK failure: 0x80 for 3.1.1, 0x87 (Not authorized) for 5.0."""
    b = acl_broker(secured, files)
    alice = client(b, proto, "alice", "a")
    alice.connect()
    codes = alice.subscribe("bob/#", 1)
    if b.name == "mosquitto" and codes == [1]:
        pytest.xfail("Mosquitto 2.0.11 grants every subscription and filters at delivery")
    assert codes == ([0x80] if proto == V311 else [NOT_AUTHORIZED])
    assert alice.subscribe("inbox/#", 1) == ([0x80] if proto == V311 else [NOT_AUTHORIZED])


@BOTH_PROTOCOLS
def test_acl_anonymous_section(secured, files, client, proto):
    b = acl_broker(secured, files)
    anon = client(b, proto)
    anon.connect()
    anon.subscribe("#", 1)
    bob = client(b, V5, "bob", "b")
    bob.connect()
    bob.publish("shared/x", b"not for anonymous", 1)
    alice_pub = client(b, V5, "alice", "a")
    alice_pub.connect()
    # Nobody here may write public/: an inline-free way to get a public message is a
    # retained one from a later ACL; instead check that anonymous cannot write there.
    anon.publish("public/hello", b"anon write", 1)
    quiet_period()
    assert anon.messages.snapshot() == []


@BOTH_PROTOCOLS
def test_acl_patterns_fill_client_id_and_user(secured, files, client, proto):
    b = acl_broker(secured, files)
    device = client(b, proto, "bob", "b", client_id="sensor7")
    device.connect()
    device.subscribe("devices/sensor7/#", 1)
    device.publish("devices/sensor7/temp", b"21", 1)
    device.messages.wait_for(1)
    assert device.subscribe("devices/sensor8/#", 1) == ([0x80] if proto == V311 else [NOT_AUTHORIZED]) \
        or b.name == "mosquitto"
    alice = client(b, proto, "alice", "a")
    alice.connect()
    alice.subscribe("users/#", 1)
    bob = client(b, V5, "bob", "b")
    bob.connect()
    # Bob may not write users/...; the pattern grants only read.
    bob.publish("users/alice/mail", b"x", 1)
    quiet_period()
    assert alice.messages.snapshot() == []


def test_acl_pattern_does_not_match_wildcard_client_id(secured, files, client):
    """A client id containing + or / cannot widen a %c pattern."""
    b = acl_broker(secured, files)
    sneaky = client(b, V5, "bob", "b", client_id="a+b")
    sneaky.connect()
    sneaky.subscribe("devices/#", 1)
    other = client(b, V5, "bob", "b", client_id="victim")
    other.connect()
    other.publish("devices/victim/state", b"private", 1)
    quiet_period()
    assert sneaky.messages.snapshot() == []


@BOTH_PROTOCOLS
def test_acl_retained_message_checked_on_subscribe(secured, files, client, proto):
    b = acl_broker(secured, files)
    bob = client(b, V5, "bob", "b")
    bob.connect()
    bob.publish("bob/status", b"retained secret", 1, retain=True)
    bob.publish("shared/status", b"retained open", 1, retain=True)
    alice = client(b, proto, "alice", "a")
    alice.connect()
    alice.subscribe("#", 1)
    alice.messages.wait_for(1)
    quiet_period()
    assert [m.payload for m in alice.messages.snapshot()] == [b"retained open"]


@BOTH_PROTOCOLS
def test_acl_queued_messages_checked_for_offline_session(secured, files, client, proto):
    b = acl_broker(secured, files)
    cid = unique("alice-persist")
    alice = client(b, proto, "alice", "a", client_id=cid)
    alice.connect(clean=False, properties=_expiry(proto))
    alice.subscribe("#", 1)
    alice.disconnect()
    bob = client(b, V5, "bob", "b")
    bob.connect()
    bob.publish("bob/while-away", b"hidden", 1)
    bob.publish("shared/while-away", b"queued", 1)
    again = client(b, proto, "alice", "a", client_id=cid)
    again.connect(clean=False, properties=_expiry(proto))
    again.messages.wait_for(1)
    quiet_period()
    assert [m.payload for m in again.messages.snapshot()] == [b"queued"]


def _expiry(proto):
    if proto != V5:
        return None
    from helpers import connect_props
    return connect_props(SessionExpiryInterval=300)


# ---------------------------------------------------------------------- wills

def test_will_denied_by_acl_is_refused_at_connect(secured, files, client):
    """Parley checks a will like a PUBLISH when CONNECT arrives and refuses
    the connection (0x87) rather than accepting a will it would not publish."""
    b = acl_broker(secured, files)
    watcher = client(b, V5, "bob", "b")
    watcher.connect()
    watcher.subscribe("bob/#", 1)
    will = {"topic": "bob/alarm", "payload": b"forged", "qos": 1, "retain": False}
    code = refusal(b, V5, "alice", "a", will=will)
    quiet_period()
    assert watcher.messages.snapshot() == []
    if b.name == "mosquitto" and code == 0:
        pytest.xfail("Mosquitto 2.0.11 accepts the CONNECT and drops the will when it is due")
    assert code == NOT_AUTHORIZED
    assert refusal(b, V311, "alice", "a", will=will) == NOT_AUTHORIZED_V3


@BOTH_PROTOCOLS
def test_will_allowed_by_acl_is_published(secured, files, client, proto):
    b = acl_broker(secured, files)
    watcher = client(b, V5, "alice", "a")
    watcher.connect()
    watcher.subscribe("shared/#", 1)
    dying = client(b, proto, "bob", "b")
    dying.will_set("shared/bob-status", b"offline", 1)
    dying.connect()
    dying.drop()
    assert watcher.messages.wait_for(1)[0].payload == b"offline"


def test_will_on_sys_topic_is_refused(secured, client):
    """A retained will on $SYS/broker/version must not forge the broker's statistics."""
    b = secured("allow_anonymous true")
    will = {"topic": "$SYS/broker/version", "payload": b"forged", "qos": 0, "retain": True}
    code = refusal(b, V5, will=will)
    if b.name == "mosquitto":
        pytest.xfail("Mosquitto 2.0.11 accepts wills on $SYS topics")
    assert code == NOT_AUTHORIZED
    reader = client(b, V5)
    reader.connect()
    reader.subscribe("$SYS/broker/version", 0)
    msg = reader.messages.wait_for(1)[0]
    assert msg.payload != b"forged"


def test_will_over_message_size_limit_is_refused(secured):
    b = secured("allow_anonymous true", "message_size_limit 10")
    will = {"topic": "big/will", "payload": b"x" * 100, "qos": 0, "retain": False}
    code = refusal(b, V5, will=will)
    if b.name == "mosquitto" and code == 0:
        pytest.xfail("Mosquitto 2.0.11 accepts an oversized will")
    assert code == 0x95


# ------------------------------------------------------- shared subscriptions

def test_shared_subscription_skips_member_that_may_not_read(secured, files, client):
    b = acl_broker(secured, files)
    blind = client(b, V5, "alice", "a")
    blind.connect()
    # alice may read shared/#, but alice/secret is denied; bob may read bob/#.
    blind.subscribe("$share/g/bob/#", 1)
    sighted = client(b, V5, "bob", "b")
    sighted.connect()
    sighted.subscribe("$share/g/bob/#", 1)
    publisher = client(b, V5, "bob", "b")
    publisher.connect()
    for i in range(6):
        publisher.publish("bob/job", b"%d" % i, 1)
    if b.name == "mosquitto":
        quiet_period()
        if len(sighted.messages.snapshot()) < 6:
            pytest.xfail("Mosquitto 2.0.11 gives a share member's turn away even when it may not read")
    sighted.messages.wait_for(6)
    assert blind.messages.snapshot() == []


# -------------------------------------------------------------------- sessions

def test_session_resumed_under_another_user_starts_clean(secured, files, client):
    """A persistent session belongs to its user: another user name with the
    same client id gets a new session (session present 0), never the old
    subscriptions and queue."""
    b = acl_broker(secured, files)
    cid = unique("shared-id")
    bob = client(b, V5, "bob", "b", client_id=cid)
    bob.connect(clean=False, properties=_expiry(V5))
    bob.subscribe("bob/#", 1)
    bob.disconnect()
    pub = client(b, V5, "bob", "b")
    pub.connect()
    pub.publish("bob/queued", b"for bob only", 1)
    alice = client(b, V5, "alice", "a", client_id=cid)
    _, flags, _ = alice.connect(clean=False, properties=_expiry(V5))
    quiet_period()
    assert alice.messages.snapshot() == []
    if b.name == "mosquitto" and flags.session_present:
        pytest.xfail("Mosquitto 2.0.11 resumes another user's session (and re-checks its queue)")
    assert not flags.session_present


# ------------------------------------------------------------------- reloading

def test_sighup_reloads_acl_and_passwords_without_dropping_connections(secured, files, client):
    pw = files.parley_passwd("passwords", {"alice": "a"})
    acl = files.write("acl", "user alice\ntopic readwrite a/#\n")
    b = secured(f"password_file {pw}", f"acl_file {acl}")
    alice = client(b, V5, "alice", "a")
    alice.connect()
    alice.subscribe("#", 1)
    alice.publish("a/1", b"before", 1)
    alice.publish("b/1", b"denied before", 1)
    alice.messages.wait_for(1)
    acl.write_text("user alice\ntopic readwrite b/#\n")
    subprocess.run([parley_exe(), "passwd", "-b", str(pw), "newcomer", "n"], check=True, timeout=30)
    b.reload()

    def newcomer_accepted():
        return refusal(b, V5, "newcomer", "n") == 0
    wait_until(newcomer_accepted, what="the new password file")
    alice.messages.clear()
    alice.publish("b/2", b"after", 1)
    alice.publish("a/2", b"denied after", 1)
    alice.messages.wait_for(1)
    quiet_period()
    assert [m.payload for m in alice.messages.snapshot()] == [b"after"]
    assert alice.disconnects == []


def test_queue_denied_after_reload_does_not_stall_the_session(secured, files, client):
    """Messages queued while away, then denied by a reloaded ACL, are dropped as the
    session resumes, and the allowed message behind them (past the inflight window)
    still arrives."""
    pw = files.parley_passwd("passwords", {"alice": "a", "bob": "b"})
    acl = files.write("acl", "user alice\ntopic readwrite a/#\ntopic readwrite b/#\n"
                             "user bob\ntopic readwrite a/#\ntopic readwrite b/#\n")
    b = secured(f"password_file {pw}", f"acl_file {acl}", "max_inflight_messages 5")
    cid = unique("alice-queue")
    alice = client(b, V5, "alice", "a", client_id=cid)
    alice.connect(clean=False, properties=_expiry(V5))
    alice.subscribe("#", 1)
    alice.disconnect()
    bob = client(b, V5, "bob", "b")
    bob.connect()
    for i in range(30):
        bob.publish("a/queued", b"%d" % i, 1)
    bob.publish("b/after", b"allowed", 1)
    acl.write_text("user alice\ntopic readwrite b/#\nuser bob\ntopic readwrite a/#\ntopic readwrite b/#\n")
    subprocess.run([parley_exe(), "passwd", "-b", str(pw), "marker", "m"], check=True, timeout=30)
    b.reload()
    # SIGHUP is asynchronous: a user added with it shows when the files were read again.
    wait_until(lambda: refusal(b, V5, "marker", "m") == 0, what="the reloaded files")
    again = client(b, V5, "alice", "a", client_id=cid)
    again.connect(clean=False, properties=_expiry(V5))
    if b.name == "mosquitto":
        quiet_period()
        if not again.messages.snapshot():
            pytest.xfail("Mosquitto 2.0.11 does not deliver the allowed message queued behind ones its reloaded ACL denies")
    got = again.messages.wait_for(1, topic="b/after")
    assert got[0].payload == b"allowed"
    quiet_period()
    assert [m.topic for m in again.messages.snapshot()] == ["b/after"]
