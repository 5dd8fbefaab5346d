// The chat page: phoenix.js (served by the app, global `Phoenix`), no build step.
// State the browser test waits on is mirrored on <body>: data-channel (the channel's state)
// and data-joins (how many times the join succeeded, rejoins included).
(() => {
  "use strict";
  const { Socket, Presence } = window.Phoenix;
  const $ = (id) => document.getElementById(id);
  const ui = {
    lobby: $("lobby"), chat: $("chat"), form: $("join-form"), name: $("name"), room: $("room"),
    status: $("status"), banner: $("banner"), messages: $("messages"), online: $("online"),
    count: $("online-count"), composer: $("composer"), body: $("body"),
  };
  let session = null; // {socket, channel, presence, me, room, node, joins, synced}
  let bannerTimer = null;

  function setStatus(kind, text) {
    ui.status.className = `pill pill-${kind}`;
    ui.status.textContent = text;
  }

  function showBanner(kind, text, hideAfterMs) {
    clearTimeout(bannerTimer);
    ui.banner.className = `banner banner-${kind}`;
    ui.banner.textContent = text;
    ui.banner.hidden = false;
    if (hideAfterMs) bannerTimer = setTimeout(() => { ui.banner.hidden = true; }, hideAfterMs);
  }

  function setChannelState(state) { document.body.dataset.channel = state; }

  function colorOf(name) {
    let hash = 0;
    for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
    return `hsl(${hash % 360} 55% 48%)`;
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function scrollDown() { ui.messages.scrollTop = ui.messages.scrollHeight; }

  function addMessage(msg) {
    // Ids are numbered per node: in a cluster a message is known by its node and its id.
    const key = `${msg.node}/${msg.id}`;
    if (ui.messages.querySelector(`[data-key="${CSS.escape(key)}"]`)) return; // already shown
    const item = element("li", msg.user === session.me ? "msg mine" : "msg");
    item.dataset.key = key;
    const avatar = element("div", "avatar", msg.user.slice(0, 1));
    avatar.style.background = colorOf(msg.user);
    const text = element("div");
    const head = element("div", "head");
    head.append(element("span", "author", msg.user));
    const time = new Date(msg.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    head.append(element("span", "time", time));
    if (msg.node !== session.node) head.append(element("span", "via", `via ${msg.node}`));
    text.append(head, element("div", "body", msg.body));
    item.append(avatar, text);
    ui.messages.append(item);
    scrollDown();
  }

  function addNotice(text, kind = "info") {
    ui.messages.append(element("li", `notice notice-${kind}`, text));
    scrollDown();
  }

  function renderOnline() {
    const people = session.presence.list((name, { metas }) => ({ name, tabs: metas.length }));
    people.sort((a, b) => a.name.localeCompare(b.name));
    ui.online.replaceChildren(...people.map(({ name, tabs }) => {
      const item = element("li", name === session.me ? "me" : "");
      item.append(element("span", "dot"), element("span", "who", name));
      if (tabs > 1) item.append(element("span", "tabs", `${tabs} tabs`));
      return item;
    }));
    ui.count.textContent = people.length;
  }

  function joined(resp) {
    session.joins += 1;
    document.body.dataset.joins = session.joins;
    setChannelState("joined");
    $("node-name").textContent = resp.node;
    session.node = resp.node;
    $("me").textContent = resp.user;
    session.me = resp.user;
    if (session.joins === 1) {
      ui.messages.replaceChildren();
      if (resp.history.length === 0) addNotice(`Welcome to #${session.room}. No messages yet.`);
      else addNotice(`The last ${resp.history.length} messages of #${session.room}`);
      resp.history.forEach(addMessage);
    } else {
      resp.history.forEach(addMessage); // what was said while we were away
      addNotice("Rejoined with a fresh channel process", "rejoin");
      showBanner("ok", "Rejoined: a new channel process serves you now.", 4000);
    }
  }

  function join(name, room) {
    const socket = new Socket("/socket", { params: { user: name } });
    const channel = socket.channel(`rooms:${room}`, { user: name });
    const presence = new Presence(channel);
    session = { socket, channel, presence, me: name, room, node: null, joins: 0, synced: false };
    ui.lobby.hidden = true;
    ui.chat.hidden = false;
    $("room-name").textContent = room;
    $("me").textContent = name;
    ui.body.placeholder = `Message #${room} (try /crash)`;
    history.replaceState(null, "", `/?room=${encodeURIComponent(room)}`);

    socket.onOpen(() => setStatus("ok", "connected"));
    socket.onError(() => setStatus("bad", "connection lost, reconnecting…"));
    presence.onJoin((key, current) => {
      if (session.synced && !current && key !== session.me) addNotice(`${key} joined`);
    });
    presence.onLeave((key, current) => {
      if (session.synced && current.metas.length === 0 && key !== session.me) {
        addNotice(`${key} left`);
      }
    });
    presence.onSync(() => { renderOnline(); session.synced = true; });
    channel.on("new_msg", addMessage);
    channel.on("notice", (notice) => addNotice(notice.body, notice.kind));
    channel.onError(() => {
      session.synced = false;
      setChannelState("errored");
      if (socket.isConnected()) {
        showBanner("crash", "Your channel process crashed. phoenix.js is rejoining…");
      } else {
        showBanner("offline", "Connection lost. Reconnecting…");
      }
    });
    channel.join()
      .receive("ok", joined)
      .receive("error", (resp) => showBanner("offline", `Could not join: ${resp.reason}`))
      .receive("timeout", () => showBanner("offline", "The join timed out; retrying…"));
    socket.connect();
    ui.body.focus();
  }

  function leave() {
    if (!session) return;
    const { socket, channel } = session;
    channel.leave();
    socket.disconnect();
    session = null;
    setChannelState("closed");
    setStatus("idle", "not connected");
    ui.banner.hidden = true;
    ui.chat.hidden = true;
    ui.lobby.hidden = false;
  }

  function send(body) {
    session.channel.push("new_msg", { body })
      .receive("error", (resp) => addNotice(resp.reason, "error"));
  }

  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = ui.name.value.trim();
    const room = ui.room.value.trim();
    if (!name || !/^[A-Za-z0-9_-]{1,32}$/.test(room)) return;
    localStorage.setItem("trouper-chat-name", name);
    join(name, room);
  });
  ui.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = ui.body.value.trim();
    if (!body || !session) return;
    ui.body.value = "";
    send(body);
  });
  $("crash").addEventListener("click", () => { if (session) send("/crash"); });
  $("leave").addEventListener("click", leave);

  const params = new URLSearchParams(location.search);
  ui.name.value = params.get("name") || localStorage.getItem("trouper-chat-name") || "";
  if (params.get("room")) ui.room.value = params.get("room");
  if (params.get("name") && params.get("room")) join(ui.name.value.trim(), ui.room.value.trim());
  else (ui.name.value ? ui.room : ui.name).focus();
})();
