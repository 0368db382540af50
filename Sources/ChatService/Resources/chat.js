(() => {
  "use strict";

  const NAME_KEY = "parley.chat.name";
  const DEFAULT_ROOM = "general";
  const MAX_MESSAGE = 2000;
  const RETRY_MIN_MS = 500;
  const RETRY_MAX_MS = 5000;
  const ERROR_MS = 5000;
  const PALETTE = [
    "#e53935", "#d81b60", "#8e24aa", "#5e35b1", "#3949ab", "#1e88e5",
    "#0277bd", "#00897b", "#2e7d32", "#f4511e", "#6d4c41", "#546e7a",
  ];

  const $ = (id) => document.getElementById(id);
  const ui = {
    room: $("room"),
    status: $("status"),
    messages: $("messages"),
    online: $("online"),
    onlineCount: $("online-count"),
    message: $("message"),
    send: $("send"),
    counter: $("counter"),
    error: $("error"),
    dialog: $("join-dialog"),
    joinForm: $("join-form"),
    name: $("name"),
    joinRoom: $("join-room"),
    join: $("join"),
    joinError: $("join-error"),
  };

  let socket = null;
  let retryDelay = RETRY_MIN_MS;
  let retryTimer = 0;
  let errorTimer = 0;
  let joined = false;
  let myName = loadName();      // last name the server accepted
  let pendingJoin = null;       // {name, room} sent or waiting for the socket
  let currentRoom = roomFromURL();
  let switchingTo = null;
  const shownIds = new Set();

  // ---- storage / URL ----

  function loadName() {
    try { return sessionStorage.getItem(NAME_KEY) || null; } catch { return null; }
  }

  function saveName(name) {
    try { sessionStorage.setItem(NAME_KEY, name); } catch { /* storage disabled: no auto-rejoin */ }
  }

  function roomFromURL() {
    const room = (new URLSearchParams(location.search).get("room") || "").trim();
    return room || DEFAULT_ROOM;
  }

  function syncURL(room) {
    const url = new URL(location.href);
    if ((url.searchParams.get("room") || DEFAULT_ROOM) === room) return;
    url.searchParams.set("room", room);
    history.replaceState(history.state, "", url);
  }

  // ---- rendering helpers (user data only ever goes through textContent) ----

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function colorFor(name) {
    // FNV-1a over UTF-16 code units: stable across sessions and browsers.
    let hash = 0x811c9dc5;
    for (let i = 0; i < name.length; i++) {
      hash ^= name.charCodeAt(i);
      hash = Math.imul(hash, 0x01000193);
    }
    return PALETTE[(hash >>> 0) % PALETTE.length];
  }

  function initialOf(name) {
    const first = Array.from(name.trim())[0];
    return first ? first.toUpperCase() : "?";
  }

  const pad = (n) => String(n).padStart(2, "0");

  function timeElement(iso) {
    const node = el("time", "time");
    const date = new Date(iso);
    if (typeof iso === "string" && !Number.isNaN(date.getTime())) {
      node.textContent = `${pad(date.getHours())}:${pad(date.getMinutes())}`;
      node.dateTime = iso;
      node.title = date.toLocaleString();
    }
    return node;
  }

  function renderMessage(m) {
    const kind = m.kind === "join" || m.kind === "leave" ? m.kind : "chat";
    const text = m.text == null ? "" : String(m.text);
    const item = el("div", "message");
    item.dataset.kind = kind;
    if (m.id != null) item.dataset.id = String(m.id);

    if (kind !== "chat") {
      item.classList.add("announcement");
      item.append(el("span", "text", text), timeElement(m.time));
      return item;
    }

    const user = m.user == null ? "" : String(m.user);
    if (myName !== null && user === myName) item.classList.add("mine");

    const avatar = el("div", "avatar", initialOf(user));
    avatar.style.backgroundColor = colorFor(user);
    avatar.setAttribute("aria-hidden", "true");

    const meta = el("div", "meta");
    meta.append(el("span", "name", user), timeElement(m.time));

    const body = el("div", "body");
    body.append(meta, el(m.format === "json" ? "pre" : "div", "text", text));
    item.append(avatar, body);
    return item;
  }

  function scrollToNewest() {
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function appendMessage(m) {
    if (!m || typeof m !== "object") return;
    if (m.id != null) {
      const id = String(m.id);
      if (shownIds.has(id)) return;
      shownIds.add(id);
    }
    ui.messages.append(renderMessage(m));
  }

  function replaceHistory(messages) {
    shownIds.clear();
    ui.messages.replaceChildren();
    for (const m of Array.isArray(messages) ? messages : []) appendMessage(m);
    scrollToNewest();
  }

  // Who is online in the current room: the whole list comes when the page enters a room,
  // then only who joined and who left ("presence"), so a busy room costs little per change.
  let onlineUsers = [];

  function changeOnline(joined, left) {
    const gone = new Set((Array.isArray(left) ? left : []).map(String));
    const next = onlineUsers.filter((u) => !gone.has(u));
    for (const raw of Array.isArray(joined) ? joined : []) {
      const user = String(raw);
      if (!next.includes(user)) next.push(user);
    }
    next.sort((a, b) => a.localeCompare(b, undefined, { sensitivity: "base" }));
    replaceOnline(next);
  }

  function replaceOnline(users) {
    const items = [];
    onlineUsers = (Array.isArray(users) ? users : []).map(String);
    for (const user of onlineUsers) {
      const li = el("li");
      if (user === myName) li.classList.add("me");
      const dot = el("span", "dot");
      dot.style.backgroundColor = colorFor(user);
      dot.setAttribute("aria-hidden", "true");
      li.append(dot, document.createTextNode(user));
      items.push(li);
    }
    ui.online.replaceChildren(...items);
    ui.onlineCount.textContent = String(items.length);
  }

  // ---- UI state ----

  function setStatus(text, state) {
    ui.status.textContent = text;
    ui.status.dataset.state = state;
  }

  function setJoined(value) {
    joined = value;
    ui.message.disabled = !value;
    ui.send.disabled = !value;
  }

  function showDialog() {
    ui.dialog.hidden = false;
    ui.name.focus();
  }

  function setJoinBusy(busy) {
    ui.join.disabled = busy;
    ui.join.textContent = busy ? "Joining…" : "Join chat";
  }

  function showJoinError(text) {
    ui.joinError.textContent = text;
  }

  function showError(text) {
    clearTimeout(errorTimer);
    ui.error.textContent = text;
    ui.error.hidden = false;
    errorTimer = setTimeout(() => {
      ui.error.hidden = true;
      ui.error.textContent = "";
    }, ERROR_MS);
  }

  function updateComposer() {
    const box = ui.message;
    box.style.height = "auto";
    box.style.height = `${Math.min(box.scrollHeight, 200)}px`;
    const length = Array.from(box.value).length;
    ui.counter.textContent = length > MAX_MESSAGE - 200 ? `${length} / ${MAX_MESSAGE}` : "";
    ui.counter.classList.toggle("over", length > MAX_MESSAGE);
  }

  // ---- socket ----

  function socketURL() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws`;
  }

  function send(frame) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function sendJoin() {
    if (!pendingJoin) return;
    send({ type: "join", name: pendingJoin.name, room: pendingJoin.room });
  }

  function connect() {
    clearTimeout(retryTimer);
    let ws;
    try {
      ws = new WebSocket(socketURL());
    } catch {
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.addEventListener("open", () => {
      if (socket !== ws) return;
      retryDelay = RETRY_MIN_MS;
      setStatus("connected", "connected");
      if (!pendingJoin && myName !== null) pendingJoin = { name: myName, room: currentRoom };
      sendJoin();
    });
    ws.addEventListener("message", (event) => {
      if (socket !== ws || typeof event.data !== "string") return;
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      if (frame && typeof frame === "object") handleFrame(frame);
    });
    ws.addEventListener("close", () => {
      if (socket !== ws) return;
      socket = null;
      setJoined(false);
      switchingTo = null;
      setStatus("reconnecting…", "reconnecting");
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
  }

  // ---- protocol ----

  function handleFrame(frame) {
    switch (frame.type) {
      case "joined": onJoined(frame); break;
      case "history":
        if (frame.room == null || frame.room === currentRoom) replaceHistory(frame.messages);
        break;
      case "message":
        if (frame.room == null || frame.room === currentRoom) {
          appendMessage(frame);
          scrollToNewest();
        }
        break;
      case "online":
        if (frame.room == null || frame.room === currentRoom) replaceOnline(frame.users);
        break;
      case "presence":
        if (frame.room === currentRoom) changeOnline(frame.joined, frame.left);
        break;
      case "error": onError(String(frame.message ?? "Something went wrong")); break;
    }
  }

  function onJoined(frame) {
    const name = String(frame.name ?? (pendingJoin ? pendingJoin.name : myName ?? ""));
    const room = String(frame.room ?? currentRoom);
    myName = name;
    saveName(name);
    pendingJoin = null;
    switchingTo = null;
    if (room !== currentRoom) {
      // Old room's messages must not linger while the new history is on its way.
      replaceHistory([]);
      replaceOnline([]);
    }
    currentRoom = room;
    ui.room.value = room;
    ui.joinRoom.value = room;
    syncURL(room);
    showJoinError("");
    setJoinBusy(false);
    ui.dialog.hidden = true;
    setJoined(true);
    ui.message.focus();
  }

  function onError(text) {
    if (!joined) {
      // Join (or automatic rejoin) refused: the user has to fix name/room in the dialog.
      pendingJoin = null;
      setJoinBusy(false);
      showJoinError(text);
      showDialog();
      return;
    }
    switchingTo = null;
    ui.room.value = currentRoom;
    if (document.activeElement === ui.room) ui.room.select();
    showError(text);
  }

  // ---- user actions ----

  function requestJoin() {
    const name = ui.name.value.trim();
    if (!name) {
      showJoinError("Name must not be empty");
      ui.name.focus();
      return;
    }
    showJoinError("");
    pendingJoin = { name, room: ui.joinRoom.value.trim() || currentRoom };
    setJoinBusy(true);
    sendJoin();   // if the socket is not open yet, "open" sends it
  }

  function sendMessage() {
    if (!joined) return;
    const text = ui.message.value.replace(/\s+$/u, "");
    if (text.trim() === "") return;
    if (!send({ type: "send", text })) return;
    ui.message.value = "";
    updateComposer();
    ui.message.focus();
  }

  function switchRoom() {
    const room = ui.room.value.trim();
    if (!joined || room === "") {
      ui.room.value = currentRoom;
      return;
    }
    if (room === currentRoom || room === switchingTo) return;
    if (send({ type: "room", room })) switchingTo = room;
  }

  ui.joinForm.addEventListener("submit", (event) => {
    event.preventDefault();
    requestJoin();
  });

  ui.message.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    sendMessage();
  });
  ui.message.addEventListener("input", updateComposer);
  ui.send.addEventListener("click", sendMessage);

  ui.room.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      switchRoom();
    } else if (event.key === "Escape") {
      ui.room.value = currentRoom;
      ui.room.blur();
    }
  });
  ui.room.addEventListener("change", switchRoom);

  // ---- start ----

  ui.room.value = currentRoom;
  ui.joinRoom.value = currentRoom;
  setJoined(false);
  if (myName !== null) {
    // Same tab, name already accepted once: rejoin silently instead of asking again.
    ui.name.value = myName;
    ui.dialog.hidden = true;
  } else {
    ui.name.focus();
  }
  connect();
})();
