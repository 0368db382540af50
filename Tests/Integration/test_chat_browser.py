"""The chat page in a real browser: headless Chromium driven by Selenium.

One ``parley serve -p MQTT --host 127.0.0.1 --http-port HTTP --http-host
127.0.0.1`` process (broker and chat in one) serves the whole module; each
test opens its own browser sessions and uses its own names (and rooms where
the online list must be exact), so tests do not see each other's users.

Needs Debian's ``chromium`` and ``chromium-driver`` (scripts/install-deps.sh
test installs them): if they are missing the tests FAIL.  The module is
skipped only when PARLEY_BIN is unset.

PARLEY_CHAT_SCREENSHOT=path/to/file.png makes ``test_readme_screenshot`` save
a 1200x800 picture of a conversation there.
"""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import subprocess
from pathlib import Path

import pytest

from chat_helpers import (ChatProcess, ChatSub, attach_logs, ensure, mosquitto_exe,
                          mosquitto_pub, parley_bin_or_skip)
from conftest import STOP_DEADLINE, BrokerProcess
from helpers import unique, wait_until

PARLEY = parley_bin_or_skip()

from selenium import webdriver  # noqa: E402  (after the skip: needs the test deps)
from selenium.common.exceptions import (NoAlertPresentException,  # noqa: E402
                                        StaleElementReferenceException, WebDriverException)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WIDTH, HEIGHT = 1200, 800
UI_TIMEOUT = 15.0  # a page update: browser -> server -> broker -> server -> browsers
POLL = 0.1


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("chat-serve")
    p = ChatProcess(PARLEY, workdir, mode="serve", label="parley-serve")
    p.start()
    yield p
    p.stop()


@pytest.fixture(autouse=True)
def _server_log_on_failure(request, server):
    attach_logs(request, "parley serve (broker + chat)", server.mqtt_port, server)


@pytest.fixture
def browser(server):
    """Factory: ``browser(base_url=None)`` -> ChatPage on a new headless
    Chromium, for the module's server unless ``base_url`` names another."""
    ensure(CHROMIUM, "chromium")
    ensure(CHROMEDRIVER, "chromium-driver")
    made = []

    def make(base_url=None):
        page = ChatPage(new_driver(), base_url or server.base_url)
        made.append(page)
        return page

    yield make
    for page in made:
        page.quit()


@pytest.fixture
def chat_sub(server):
    """``mosquitto_sub -V mqttv5 -t 'chat/#' -v`` on the module's broker."""
    ensure("mosquitto_sub", "mosquitto-clients")
    sub = ChatSub(server.mqtt_port, "chat/#")
    try:
        sub.wait_subscribed()
        yield sub
    finally:
        sub.stop()


def new_driver():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                f"--window-size={WIDTH},{HEIGHT}"):
        options.add_argument(arg)
    # Leave an alert open instead of dismissing it, so a test can see it.
    options.set_capability("unhandledPromptBehavior", "ignore")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    # Make the viewport (not the window, whose frame takes some height) 1200x800.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1,
                            "mobile": False})
    return driver


# ----------------------------------------------------------------- page model

_MESSAGES_JS = """
return Array.from(document.querySelectorAll('#messages > .message')).map(function (e) {
  var q = function (sel) { var x = e.querySelector(sel); return x ? x.textContent : null; };
  var text = e.querySelector('.text');
  return {id: e.getAttribute('data-id'), kind: e.getAttribute('data-kind'),
          announcement: e.classList.contains('announcement'),
          name: q('.name'), text: (text || e).textContent.trim(),
          pre: !!e.querySelector('pre')};
});
"""


class ChatPage:
    """One browser tab with the chat page; waits poll with a deadline."""

    def __init__(self, driver, base_url):
        self.driver = driver
        self.base_url = base_url
        self.name = None

    def open(self, query=""):
        self.driver.get(self.base_url + "/" + query)
        wait_until(lambda: self.driver.find_elements(By.ID, "name"), UI_TIMEOUT, POLL,
                   "the join dialog's #name input")
        return self

    def el(self, element_id):
        return self.driver.find_element(By.ID, element_id)

    def dialog_open(self) -> bool:
        found = self.driver.find_elements(By.ID, "join-dialog")
        try:
            return bool(found) and found[0].is_displayed()
        except StaleElementReferenceException:
            return False

    def join(self, name):
        field = self.el("name")
        field.clear()
        field.send_keys(name)
        self.el("join").click()
        wait_until(lambda: not self.dialog_open(), UI_TIMEOUT, POLL,
                   f"the join dialog to close after joining as {name!r} "
                   f"(#join-error: {self.join_error()!r})")
        self.name = name
        return self

    def join_error(self) -> str:
        found = self.driver.find_elements(By.ID, "join-error")
        return found[0].text.strip() if found else ""

    def send(self, text, with_enter=False):
        box = self.el("message")
        box.clear()
        box.send_keys(text)
        if with_enter:
            box.send_keys(Keys.ENTER)
        else:
            self.el("send").click()
        wait_until(lambda: self.el("message").get_attribute("value") == "", UI_TIMEOUT, POLL,
                   "#message to be cleared after sending")

    def messages(self):
        return self.driver.execute_script(_MESSAGES_JS)

    def find_message(self, user=None, text=None, kind=None):
        for m in self.messages():
            if ((user is None or (m["name"] or "").strip() == user)
                    and (text is None or m["text"] == text)
                    and (kind is None or m["kind"] == kind)):
                return m
        return None

    def wait_message(self, user=None, text=None, kind="chat", timeout=UI_TIMEOUT):
        return wait_until(lambda: self.find_message(user, text, kind), timeout, POLL,
                          f"{kind} message {user}: {text!r} in #messages of {self.name}; "
                          f"shown: {self._tail()}")

    def wait_announcement(self, text, kind, timeout=UI_TIMEOUT):
        def shown():
            for m in self.messages():
                if m["kind"] == kind and m["text"] == text:
                    return m
            return None
        m = wait_until(shown, timeout, POLL, f"announcement {text!r} in #messages of "
                       f"{self.name}; shown: {self._tail()}")
        assert m["announcement"], f"{kind} line lacks class 'announcement': {m}"
        return m

    def _tail(self):
        try:
            return [(m["kind"], m["name"], m["text"][:60]) for m in self.messages()[-8:]]
        except WebDriverException as exc:
            return f"<{exc.__class__.__name__}>"

    def online(self):
        return [li.text.strip() for li in self.driver.find_elements(By.CSS_SELECTOR, "#online li")]

    def wait_online(self, names, timeout=UI_TIMEOUT):
        """#online shows exactly these names, one li each."""
        want = sorted(names)

        seen = []

        def shown():
            try:
                seen[:] = sorted(self.online())
                return seen == want
            except StaleElementReferenceException:
                return False  # the list was replaced while reading it
        try:
            wait_until(shown, timeout, POLL, f"#online of {self.name} to show {want}")
        except AssertionError as failure:
            raise AssertionError(f"{failure}; it shows {seen}") from None

    def status(self) -> str:
        try:
            return self.el("status").text.strip()
        except StaleElementReferenceException:
            return ""

    def wait_status(self, text, timeout=UI_TIMEOUT):
        wait_until(lambda: self.status() == text, timeout, POLL,
                   f"#status of {self.name} to say {text!r} (it says {self.status()!r})")

    def alert_open(self) -> bool:
        try:
            self.driver.switch_to.alert
            return True
        except NoAlertPresentException:
            return False

    def quit(self):
        try:
            self.driver.quit()
        except Exception:
            pass


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


# ---------------------------------------------------------------------- tests

def test_page_serves_title_and_controls(browser):
    page = browser().open()
    assert page.driver.title == "Parley chat"
    for element_id in ("name", "join", "join-dialog", "message", "send", "messages",
                       "room", "online", "status"):
        assert page.driver.find_elements(By.ID, element_id), f"#{element_id} missing"
    assert page.dialog_open()
    page.join(unique("visitor"))
    assert page.el("room").get_attribute("value") == "general"
    wait_until(lambda: page.el("status").text.strip() == "connected", UI_TIMEOUT, POLL,
               f"#status to say 'connected' (it says {page.el('status').text!r})")


def test_two_people_chat_and_mqtt_sees_it(browser, chat_sub):
    alice_name, bob_name = unique("alice"), unique("bruno")
    alice = browser().open().join(alice_name)
    alice.wait_announcement(f"{alice_name} has joined the chat.", "join")
    bob = browser().open().join(bob_name)

    # Each sees the other's join announcement.
    alice.wait_announcement(f"{bob_name} has joined the chat.", "join")
    bob.wait_announcement(f"{bob_name} has joined the chat.", "join")
    bob.wait_announcement(f"{alice_name} has joined the chat.", "join")  # from history
    chat_sub.wait_exact(f"chat/general {alice_name} has joined the chat.")
    chat_sub.wait_exact(f"chat/general {bob_name} has joined the chat.")

    # Messages both ways; Enter sends too.
    alice.send("Hello Bruno!")
    bob.wait_message(alice_name, "Hello Bruno!")
    alice.wait_message(alice_name, "Hello Bruno!")
    bob.send("Hi Alice, Enter works", with_enter=True)
    alice.wait_message(bob_name, "Hi Alice, Enter works")
    bob.wait_message(bob_name, "Hi Alice, Enter works")
    chat_sub.wait_exact(f"chat/general {alice_name}: Hello Bruno!")
    chat_sub.wait_exact(f"chat/general {bob_name}: Hi Alice, Enter works")

    # A chat line has the avatar (the initial), the name and the time (HH:MM).
    line = f"#messages > .message[data-id='{alice.find_message(bob_name)['id']}']"
    avatar = alice.driver.find_element(By.CSS_SELECTOR, line + " .avatar")
    assert avatar.text.strip() == bob_name[0].upper()
    when = alice.driver.find_element(By.CSS_SELECTOR, line + " .time").text.strip()
    assert re.fullmatch(r"\d{1,2}:\d{2}", when), f".time is {when!r}, not HH:MM"

    # Bob closes his browser: Alice sees him leave.
    bob.quit()
    alice.wait_announcement(f"{bob_name} has left the chat.", "leave")
    chat_sub.wait_exact(f"chat/general {bob_name} has left the chat.")


def test_plain_mqtt_publish_shows_in_every_browser(browser, server):
    a = browser().open().join(unique("ann"))
    b = browser().open().join(unique("ben"))
    b.wait_announcement(f"{b.name} has joined the chat.", "join")
    a.wait_announcement(f"{b.name} has joined the chat.", "join")
    mosquitto_pub(server.mqtt_port, "chat/general", "bob: hi")
    for page in (a, b):
        page.wait_message("bob", "hi")


def test_mqtt_text_without_a_name_and_json_payloads(browser, server):
    page = browser().open().join(unique("watcher"))
    page.wait_announcement(f"{page.name} has joined the chat.", "join")
    mosquitto_pub(server.mqtt_port, "chat/general", "just some text")
    page.wait_message("mqtt", "just some text")
    mosquitto_pub(server.mqtt_port, "chat/general", '{"temp": 21.5}')

    def json_shown():
        for m in page.messages():
            if m["pre"] and '"temp"' in m["text"]:
                return m
        return None
    m = wait_until(json_shown, UI_TIMEOUT, POLL, "the JSON message rendered in <pre>")
    assert json.loads(m["text"]) == {"temp": 21.5}
    assert "\n" in m["text"], f"not pretty-printed: {m['text']!r}"


def test_html_in_a_message_is_shown_as_text(browser):
    payload = "<img src=x onerror=alert(1)>"
    sender = browser().open().join(unique("mallory"))
    reader = browser().open().join(unique("reader"))
    sender.wait_announcement(f"{reader.name} has joined the chat.", "join")
    sender.send(payload)
    for page in (sender, reader):
        m = page.wait_message(sender.name, payload)
        element = page.driver.find_element(
            By.CSS_SELECTOR, f"#messages > .message[data-id='{m['id']}'] .text")
        assert element.text == payload
        assert not page.driver.find_elements(By.CSS_SELECTOR, "#messages img"), \
            "an <img> was created inside #messages"
        assert not page.alert_open(), "an alert is open: the payload ran"


def test_html_in_a_name_is_shown_as_text(browser):
    name = "<b>bold</b>"
    page = browser().open().join(name)
    page.wait_announcement(f"{name} has joined the chat.", "join")
    page.send("hello")
    page.wait_message(name, "hello")
    assert not page.driver.find_elements(By.CSS_SELECTOR, "#messages b, #online b")


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_name_is_refused(browser, name):
    page = browser().open()
    field = page.el("name")
    field.clear()
    if name:
        field.send_keys(name)
    page.el("join").click()
    wait_until(lambda: page.join_error() == "Name must not be empty", UI_TIMEOUT, POLL,
               f"#join-error to say 'Name must not be empty' (it says {page.join_error()!r})")
    assert page.dialog_open(), "the join dialog closed after a refused name"


def test_room_parameter_opens_another_room(browser):
    general = browser().open().join(unique("gina"))
    random_ = browser().open("?room=random").join(unique("rolf"))
    assert random_.el("room").get_attribute("value") == "random"
    assert general.el("room").get_attribute("value") == "general"

    random_.send("only in random")
    random_.wait_message(random_.name, "only in random")
    # Barrier: a later message in general reached the general page, so the
    # random one would be there by now if it leaked.
    general.send("only in general")
    general.wait_message(general.name, "only in general")
    assert general.find_message(text="only in random") is None
    assert general.find_message(text=f"{random_.name} has joined the chat.", kind="join") is None
    random_.send("random barrier")
    random_.wait_message(random_.name, "random barrier")
    assert random_.find_message(text="only in general") is None


def test_room_input_switches_rooms(browser):
    room = unique("room")
    page = browser().open().join(unique("hopper"))
    page.send("said in general")
    page.wait_message(page.name, "said in general")
    box = page.el("room")
    box.send_keys(Keys.CONTROL, "a")  # select the current room name, type over it
    box.send_keys(room + Keys.ENTER)
    wait_until(lambda: f"room={room}" in page.driver.current_url, UI_TIMEOUT, POLL,
               f"the URL to carry ?room={room} (it is {page.driver.current_url})")
    # The new room's history replaced general's messages.
    wait_until(lambda: page.find_message(text="said in general") is None, UI_TIMEOUT, POLL,
               "general's messages to leave #messages")
    page.wait_announcement(f"{page.name} has joined the chat.", "join")
    assert page.el("room").get_attribute("value") == room
    page.wait_online([page.name])
    page.send("in the new room")
    page.wait_message(page.name, "in the new room")


def test_online_list_shows_both_names(browser):
    room = unique("room")
    one = browser().open(f"?room={room}").join(unique("olga"))
    two = browser().open(f"?room={room}").join(unique("oscar"))
    for page in (one, two):
        page.wait_online([one.name, two.name])
    two.quit()
    one.wait_online([one.name])


# The page retries with back-off from 0.5 s doubling to 5 s: after the server
# is back it reconnects within one 5 s step, plus the usual page update time.
RECONNECT_TIMEOUT = 5.0 + UI_TIMEOUT


def test_page_reconnects_after_the_chat_server_restarts(request, browser, tmp_path):
    """`parley chat --broker` on Debian's mosquitto (the broker stays up); the
    chat process is stopped and a new one started on the same HTTP port: the
    page shows "reconnecting…", then "connected", rejoins by itself with its
    name and room, and chats on."""
    ensure(mosquitto_exe(), "mosquitto")
    ensure("mosquitto_sub", "mosquitto-clients")
    broker = BrokerProcess("mosquitto", tmp_path)
    first = second = sub = None
    attach_logs(request, "mosquitto + parley chat", None, broker)
    try:
        broker.start()
        first = ChatProcess(PARLEY, tmp_path, mode="chat", broker_port=broker.port,
                            label="chat-1")
        attach_logs(request, "mosquitto + parley chat", None, broker, first)
        sub = ChatSub(broker.port, "chat/#")
        sub.wait_subscribed()
        first.start()

        name = unique("phoenix")
        page = browser(first.base_url).open().join(name)
        page.wait_status("connected")
        page.wait_online([name])
        sub.wait_exact(f"chat/general {name} has joined the chat.")

        first.proc.send_signal(signal.SIGTERM)
        try:
            code = first.proc.wait(STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            pytest.fail(f"parley chat did not exit within {STOP_DEADLINE}s of SIGTERM")
        assert code == 0, f"parley chat exited with {code}"
        sub.wait_exact(f"chat/general {name} has left the chat.")
        page.wait_status("reconnecting…")

        second = ChatProcess(PARLEY, tmp_path, mode="chat", broker_port=broker.port,
                             label="chat-2", http_port=first.http_port)
        attach_logs(request, "mosquitto + parley chat", None, broker, first, second)
        second.start()

        page.wait_status("connected", RECONNECT_TIMEOUT)
        page.wait_online([name])
        assert not page.dialog_open(), "the join dialog reopened: the page did not rejoin"
        assert page.el("room").get_attribute("value") == "general"
        page.send("back after the restart")
        page.wait_message(name, "back after the restart")
        sub.wait_exact(f"chat/general {name}: back after the restart")
    finally:
        if sub is not None:
            sub.stop()
        for p in (second, first):
            if p is not None:
                p.stop()
        broker.stop()


def test_readme_screenshot(browser, server):
    """A lively conversation; saved as a 1200x800 PNG if PARLEY_CHAT_SCREENSHOT is set."""
    room = "home"
    alice = browser().open(f"?room={room}").join("Alice")
    bruno = browser().open(f"?room={room}").join("Bruno")
    alice.wait_online(["Alice", "Bruno"])

    alice.send("Morning! Is the heating on in the office yet?")
    bruno.wait_message("Alice", "Morning! Is the heating on in the office yet?")
    bruno.send("Checking the thermostat, one sec")
    mosquitto_pub(server.mqtt_port, f"chat/{room}", "ci-bot: build #142 passed, deploying to staging")
    # A device publishing below the room is named by its topic level.
    mosquitto_pub(server.mqtt_port, f"chat/{room}/thermostat-3",
                  json.dumps({"temp": 21.5, "humidity": 48, "heating": True}))
    alice.wait_message("ci-bot", "build #142 passed, deploying to staging")
    wait_until(lambda: any(m["pre"] and (m["name"] or "").strip() == "thermostat-3"
                                   for m in alice.messages()),
               UI_TIMEOUT, POLL, "the thermostat's JSON message")
    alice.send("21.5 degrees, perfect. Thanks Bruno!")
    bruno.wait_message("Alice", "21.5 degrees, perfect. Thanks Bruno!")
    alice.wait_message("Alice", "21.5 degrees, perfect. Thanks Bruno!")
    bruno.send("And the deploy went through too")
    alice.wait_message("Bruno", "And the deploy went through too")

    target = os.environ.get("PARLEY_CHAT_SCREENSHOT")
    if not target:
        return  # the conversation is checked; no picture wanted
    path = Path(target).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Let the page finish scrolling to the newest message before the picture.
    wait_until(lambda: alice.driver.execute_script(
        "var m = document.getElementById('messages');"
        "return m.scrollHeight - m.scrollTop - m.clientHeight < 2;"), UI_TIMEOUT, POLL,
        "#messages scrolled to the newest message")
    assert alice.driver.save_screenshot(str(path)), f"could not write {path}"
    assert png_size(path) == (WIDTH, HEIGHT)
