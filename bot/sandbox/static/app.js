// The sandbox page: draws the chats, the mailbox and the clock from the server's snapshot, keeps
// them current from its event stream (/api/events), and turns clicks and typing into /api calls.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const store = { bot: null, chats: new Map(), mails: new Map(), clock: null };
  const ui = { chatId: null, asUser: new Map(), replyTo: null, unread: new Map(), topic: new Map() };
  const narrow = window.matchMedia("(max-width: 1099px)");

  // -- small helpers ----------------------------------------------------------------------

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "className") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function initials(name) {
    const words = String(name || "?").replace(/\(.*?\)/g, "").trim().split(/\s+/);
    return words.slice(0, 2).map((w) => w[0] || "").join("").toUpperCase() || "?";
  }

  function clock(seconds) {
    if (!seconds) return "";
    return new Date(seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function size(bytes) {
    if (!bytes && bytes !== 0) return "";
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }

  function toast(text, kind = "info") {
    const node = el("div", { className: `toast ${kind}` }, text);
    $("toasts").append(node);
    setTimeout(() => node.remove(), kind === "error" ? 9000 : 5000);
  }

  async function api(path, body, options = {}) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": options.contentType || "application/json" },
      body: options.raw ? body : JSON.stringify(body || {}),
    });
    let data = {};
    try {
      data = await response.json();
    } catch (_) {
      data = {};
    }
    if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
    return data;
  }

  function status(text, kind = "info") {
    const node = $("control-status");
    node.textContent = text;
    node.className = `control-status ${kind}`;
  }

  // -- the model --------------------------------------------------------------------------

  function loadSnapshot(snapshot) {
    store.bot = snapshot.bot;
    store.chats = new Map(
      snapshot.chats.map((chat) => [chat.id, { ...chat, messages: new Map(chat.messages.map((m) => [m.id, m])) }]),
    );
    store.mails = new Map(snapshot.mails.map((mail) => [mail.id, mail]));
    store.clock = snapshot.clock;
    if (!store.chats.has(ui.chatId)) {
      const wanted = Number(new URLSearchParams(location.hash.slice(1)).get("chat"));
      ui.chatId = store.chats.has(wanted) ? wanted : (store.chats.keys().next().value ?? null);
    }
    const as = Number(new URLSearchParams(location.hash.slice(1)).get("as"));
    const chat = store.chats.get(ui.chatId);
    if (chat && chat.type !== "private" && chat.members.some((m) => m.id === as)) ui.asUser.set(chat.id, as);
    ui.replyTo = null;
    renderAll();
    if (!ui.deepLinkDone) {
      ui.deepLinkDone = true;
      openDeepLink();
    }
  }

  // Back from the Stripe stand-in's checkout page: its success and cancel links lead here with
  // ?start=<payload> (in production they are t.me/<bot>?start=<payload>), and, as Telegram does
  // for such a link, the chat that holds the invoice sends "/start <payload>" to the bot.
  async function openDeepLink() {
    const payload = new URLSearchParams(location.search).get("start");
    history.replaceState(null, "", location.pathname + location.hash);
    if (!payload || !/^(paid|pay)_[A-Za-z0-9-]{1,60}$/.test(payload)) return;
    const number = payload.replace(/^(paid|pay)_/, "");
    let found = null;
    for (const chat of store.chats.values()) {
      if (chat.type !== "private") continue;
      for (const m of chat.messages.values()) {
        if (m.from.is_bot && (m.text || "").includes(number) && (!found || m.date >= found.date)) {
          found = { chat, date: m.date };
        }
      }
    }
    if (!found) return;
    select(found.chat.id, false);
    try {
      await api("/api/send", { user_id: me(found.chat), chat_id: found.chat.id, text: `/start ${payload}` });
    } catch (error) {
      toast(error.message, "error");
    }
  }

  function me(chat) {
    if (!chat) return null;
    if (chat.type === "private") return chat.members[0] ? chat.members[0].id : chat.id;
    return ui.asUser.get(chat.id) ?? (chat.members[0] && chat.members[0].id);
  }

  function lastMessage(chat) {
    let last = null;
    for (const message of chat.messages.values()) if (!last || message.id > last.id) last = message;
    return last;
  }

  // Forums: the page shows every topic ("all"), the General topic, or one topic (its thread id).
  function topicOf(chat) {
    if (!chat || !chat.forum) return "all";
    const chosen = ui.topic.get(chat.id) ?? "all";
    return chosen === "all" || chosen === "general" || chat.topics.some((t) => t.id === chosen) ? chosen : "all";
  }

  function inTopic(chat, m) {
    const topic = topicOf(chat);
    if (topic === "all") return true;
    if (topic === "general") return !m.thread_id;
    return m.thread_id === topic;
  }

  function topicName(chat, threadId) {
    const topic = chat.topics.find((t) => t.id === threadId);
    return topic ? topic.name : "deleted topic";
  }

  function renderTopics(chat) {
    const bar = $("topics");
    if (!chat || !chat.forum) {
      bar.hidden = true;
      bar.replaceChildren();
      return;
    }
    const current = topicOf(chat);
    const chip = (value, label, extra = "") =>
      el(
        "button",
        {
          type: "button",
          className: `topic-chip ${extra}`,
          "aria-pressed": String(current === value),
          dataset: { topic: String(value) },
          onclick: () => {
            ui.topic.set(chat.id, value);
            renderConversation();
          },
        },
        label,
      );
    bar.hidden = false;
    bar.replaceChildren(
      el("span", { className: "topics-label" }, "Topics"),
      chip("all", "All"),
      chip("general", "# General"),
      ...chat.topics.map((t) => chip(t.id, `${t.closed ? "🔒 " : ""}${t.name}`, t.closed ? "closed" : "")),
    );
  }

  function preview(message) {
    if (!message) return "No messages yet";
    const who = message.from.is_bot ? "Bot: " : `${message.from.name}: `;
    const body = message.text || (message.document ? `Document: ${message.document.name}` : message.photo ? "Photo" : "");
    return who + body.replace(/\s+/g, " ");
  }

  // -- drawing: chat list -----------------------------------------------------------------

  function renderChatList() {
    const list = $("chat-list");
    const items = [];
    for (const chat of store.chats.values()) {
      const unread = ui.unread.get(chat.id) || 0;
      const selected = chat.id === ui.chatId;
      items.push(
        el(
          "li",
          {},
          el(
            "button",
            {
              type: "button",
              className: "chat-item",
              "aria-current": selected ? "true" : null,
              dataset: { chatId: chat.id },
              onclick: () => select(chat.id, true),
            },
            el("span", { className: `avatar ${chat.type === "private" ? "person" : "group"}`, "aria-hidden": "true" }, initials(chat.title)),
            el(
              "span",
              { className: "chat-item-text" },
              el("span", { className: "chat-item-title" }, chat.title),
              el("span", { className: "chat-item-subtitle" }, chat.subtitle),
              el("span", { className: "chat-item-preview" }, preview(lastMessage(chat))),
            ),
            unread ? el("span", { className: "badge", "aria-label": `${unread} new` }, unread) : null,
          ),
        ),
      );
    }
    list.replaceChildren(...items);
  }

  // -- drawing: the conversation ----------------------------------------------------------

  function renderConversation() {
    const chat = store.chats.get(ui.chatId);
    const log = $("messages");
    const text = $("composer-text");
    if (!chat) {
      $("chat-title").textContent = "Pick a chat";
      $("chat-subtitle").textContent = "";
      log.replaceChildren();
      text.disabled = $("composer-send").disabled = true;
      return;
    }
    $("chat-title").textContent = chat.title;
    $("chat-subtitle").textContent =
      chat.type === "private"
        ? `${chat.subtitle} · private chat with ${store.bot.name}`
        : `${chat.forum ? `forum · ${chat.topics.length} topic(s)` : "group"} · ${chat.subtitle}`;
    renderTopics(chat);
    $("chat-avatar").textContent = initials(chat.title);
    $("chat-avatar").className = `avatar ${chat.type === "private" ? "person" : "group"}`;
    const identity = $("identity");
    identity.hidden = chat.type === "private";
    if (chat.type !== "private") {
      const select = $("identity-select");
      select.replaceChildren(
        ...chat.members.map((m) => el("option", { value: m.id, selected: m.id === me(chat) }, m.name)),
      );
    }
    text.disabled = $("composer-send").disabled = false;
    text.placeholder = `Message as ${memberName(chat, me(chat))}`;
    log.setAttribute("aria-busy", "true");
    const ordered = [...chat.messages.values()].filter((m) => inTopic(chat, m)).sort((a, b) => a.id - b.id);
    log.replaceChildren(...(ordered.length ? ordered.map((m) => messageNode(chat, m)) : [emptyNode(chat)]));
    log.setAttribute("aria-busy", "false");
    log.scrollTop = log.scrollHeight;
    renderReply();
  }

  function memberName(chat, userId) {
    const member = chat.members.find((m) => m.id === userId);
    return member ? member.name : "?";
  }

  function emptyNode(chat) {
    const hint = chat.type === "private" ? "Say /start to begin." : "Staff messages and escalations appear here.";
    return el("li", { className: "empty-chat" }, hint);
  }

  function messageNode(chat, m) {
    if (m.service) {
      return el(
        "li",
        { className: "msg service", id: `m-${chat.id}-${m.id}`, dataset: { id: m.id } },
        el("span", { className: "service-text" }, m.service),
      );
    }
    const mine = !m.from.is_bot && m.from.id === me(chat);
    const kind = m.from.is_bot ? "from-bot" : mine ? "from-me" : "from-other";
    const showName = !mine && (chat.type !== "private" || !m.from.is_bot);
    const bubble = el(
      "div",
      { className: "bubble" },
      el("span", { className: showName ? "sender" : "visually-hidden" }, mine ? "You" : m.from.is_bot ? store.bot.name : m.from.name),
      chat.forum && topicOf(chat) === "all"
        ? el("span", { className: "topic-tag" }, m.thread_id ? `# ${topicName(chat, m.thread_id)}` : "# General")
        : null,
      m.forwarded_from ? el("div", { className: "forwarded" }, `Forwarded from ${m.forwarded_from}`) : null,
      m.reply_to
        ? el(
            "a",
            { className: "reply-quote", href: `#m-${chat.id}-${m.reply_to.id}`, onclick: (e) => jumpTo(e, chat, m.reply_to.id) },
            el("span", { className: "reply-quote-who" }, m.reply_to.from),
            el("span", { className: "reply-quote-text" }, m.reply_to.text),
          )
        : null,
      m.photo ? el("img", { className: "photo", src: m.photo.url, alt: `Photo from ${m.from.name}`, onload: keepAtBottom }) : null,
      m.document
        ? el(
            "a",
            { className: "document", href: m.document.url, download: m.document.name },
            el("span", { className: "document-icon", "aria-hidden": "true" }, fileIcon()),
            el(
              "span",
              { className: "document-text" },
              el("span", { className: "document-name" }, m.document.name),
              el("span", { className: "document-size" }, [size(m.document.size), m.document.mime].filter(Boolean).join(" · ")),
            ),
          )
        : null,
      m.html ? textNode(m.html) : null,
      el(
        "div",
        { className: "meta" },
        m.edited ? el("span", { className: "edited" }, "edited") : null,
        el("time", { datetime: m.date ? new Date(m.date * 1000).toISOString() : null }, clock(m.date)),
        el(
          "button",
          { type: "button", className: "reply-button", onclick: () => startReply(chat, m), "aria-label": `Reply to this message from ${m.from.is_bot ? store.bot.name : m.from.name}` },
          "Reply",
        ),
      ),
    );
    return el(
      "li",
      { className: `msg ${kind}`, id: `m-${chat.id}-${m.id}`, dataset: { id: m.id } },
      bubble,
      m.buttons && m.buttons.length ? keyboardNode(chat, m) : null,
    );
  }

  function fileIcon() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "22");
    svg.setAttribute("height", "22");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M7 3h7l5 5v13H7zM14 3v5h5M12 11v6m-3-3 3 3 3-3");
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "1.8");
    path.setAttribute("stroke-linejoin", "round");
    svg.append(path);
    return svg;
  }

  function textNode(html) {
    const node = el("div", { className: "text" });
    node.innerHTML = html; // built by the server from Telegram entities, every text character escaped
    return node;
  }

  function keyboardNode(chat, m) {
    return el(
      "div",
      { className: "keyboard", role: "group", "aria-label": "Buttons" },
      m.buttons.map((row) =>
        el(
          "div",
          { className: "keyboard-row" },
          row.map((button) => {
            if (button.url) {
              return el(
                "a",
                { className: "kb-button url", href: button.url, target: "_blank", rel: "noopener noreferrer" },
                button.text,
                el("span", { "aria-hidden": "true", className: "external" }, " ↗"),
                el("span", { className: "visually-hidden" }, " (opens in a new tab)"),
              );
            }
            if (button.data === undefined) return el("button", { type: "button", className: "kb-button", disabled: true }, button.text);
            return el(
              "button",
              { type: "button", className: "kb-button", dataset: { data: button.data }, onclick: (e) => press(chat, m, button, e.currentTarget) },
              button.text,
            );
          }),
        ),
      ),
    );
  }

  function keepAtBottom(event) {
    // A picture that finished loading grows its bubble: stay at the newest message if we were.
    const log = $("messages");
    const node = event.target.closest("li");
    if (node && !node.nextElementSibling) log.scrollTop = log.scrollHeight;
  }

  function jumpTo(event, chat, messageId) {
    event.preventDefault();
    const node = document.getElementById(`m-${chat.id}-${messageId}`);
    if (!node) return;
    node.scrollIntoView({ block: "center" });
    node.classList.add("flash");
    setTimeout(() => node.classList.remove("flash"), 1200);
  }

  function upsertMessage(chatId, message) {
    const chat = store.chats.get(chatId);
    if (!chat) return false;
    chat.messages.set(message.id, message);
    if (message.service) {
      refresh(); // a topic was created, renamed, closed or reopened: redraw the topics
      return true;
    }
    if (chatId !== ui.chatId || !inTopic(chat, message)) return true;
    const log = $("messages");
    const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 120;
    const node = messageNode(chat, message);
    const old = document.getElementById(node.id);
    if (old) {
      const hadFocus = old.contains(document.activeElement);
      old.replaceWith(node);
      if (hadFocus) (node.querySelector(".kb-button:not([disabled])") || log).focus();
    } else {
      const empty = log.querySelector(".empty-chat");
      if (empty) empty.remove();
      const after = [...log.children].find((li) => Number(li.dataset.id) > message.id);
      log.insertBefore(node, after || null);
    }
    if (nearBottom || node.classList.contains("from-me")) log.scrollTop = log.scrollHeight;
    return true;
  }

  // -- acting -----------------------------------------------------------------------------

  async function press(chat, m, button, node) {
    node.disabled = true;
    node.setAttribute("aria-busy", "true");
    try {
      await api("/api/press", { user_id: me(chat), chat_id: chat.id, message_id: m.id, data: button.data });
    } catch (error) {
      toast(error.message, "error");
    } finally {
      if (node.isConnected) {
        node.disabled = false;
        node.removeAttribute("aria-busy");
      }
    }
  }

  async function sendText(event) {
    event.preventDefault();
    const chat = store.chats.get(ui.chatId);
    const box = $("composer-text");
    const text = box.value;
    if (!chat || !text.trim()) return;
    $("composer-send").disabled = true;
    try {
      const topic = topicOf(chat);
      await api("/api/send", {
        user_id: me(chat),
        chat_id: chat.id,
        text,
        reply_to: ui.replyTo ? ui.replyTo.id : null,
        thread_id: typeof topic === "number" ? topic : null,
      });
      box.value = "";
      grow();
      cancelReply(false);
    } catch (error) {
      toast(error.message, "error");
    } finally {
      $("composer-send").disabled = false;
      box.focus();
    }
  }

  async function sendFile() {
    const input = $("composer-file");
    const file = input.files && input.files[0];
    const chat = store.chats.get(ui.chatId);
    if (!file || !chat) return;
    const caption = $("composer-text").value.trim();
    const query = new URLSearchParams({ user_id: me(chat), chat_id: chat.id, filename: file.name });
    if (caption) query.set("caption", caption);
    try {
      await api(`/api/upload?${query}`, file, { raw: true, contentType: file.type || "application/octet-stream" });
      $("composer-text").value = "";
      grow();
    } catch (error) {
      toast(error.message, "error");
    } finally {
      input.value = "";
    }
  }

  function startReply(chat, m) {
    ui.replyTo = { id: m.id, from: m.from.is_bot ? store.bot.name : m.from.name, text: m.text || (m.document ? m.document.name : "photo") };
    renderReply();
    $("composer-text").focus();
  }

  function cancelReply(focus = true) {
    ui.replyTo = null;
    renderReply();
    if (focus) $("composer-text").focus();
  }

  function renderReply() {
    const banner = $("reply-banner");
    banner.hidden = !ui.replyTo;
    if (ui.replyTo) {
      $("reply-who").textContent = ui.replyTo.from;
      $("reply-text").textContent = ui.replyTo.text.replace(/\s+/g, " ").slice(0, 120);
    }
  }

  function grow() {
    const box = $("composer-text");
    box.style.height = "auto";
    box.style.height = `${Math.min(box.scrollHeight, 160)}px`;
  }

  function select(chatId, byPerson) {
    ui.chatId = chatId;
    ui.unread.delete(chatId);
    ui.replyTo = null;
    const chat = store.chats.get(chatId);
    const hash = new URLSearchParams({ chat: chatId });
    if (chat && chat.type !== "private") hash.set("as", me(chat));
    history.replaceState(null, "", `#${hash}`);
    document.body.dataset.view = "chat";
    if (narrow.matches && byPerson) setMail(false);
    renderChatList();
    renderConversation();
    if (byPerson) $("composer-text").focus();
  }

  // -- mailbox and clock ------------------------------------------------------------------

  function renderMail() {
    const mails = [...store.mails.values()].sort((a, b) => b.id - a.id);
    $("mail-empty").hidden = mails.length > 0;
    $("mail-list").replaceChildren(
      ...mails.map((mail) =>
        el(
          "li",
          { className: "mail", id: `mail-${mail.id}` },
          el(
            "article",
            { "aria-label": `E-mail: ${mail.subject}` },
            el("h3", { className: "mail-subject" }, mail.subject || "(no subject)"),
            el(
              "p",
              { className: "mail-meta" },
              `To ${mail.to.join(", ")}`,
              mail.received_at ? el("time", { datetime: new Date(mail.received_at * 1000).toISOString() }, ` · ${clock(mail.received_at)}`) : null,
            ),
            el("pre", { className: "mail-text" }, mail.text),
          ),
        ),
      ),
    );
    const count = $("mail-count");
    count.textContent = mails.length;
    count.setAttribute("aria-label", `${mails.length} e-mail${mails.length === 1 ? "" : "s"}`);
  }

  function renderClock() {
    if (!store.clock) return;
    const label = $("date-label");
    label.textContent = store.clock.label;
    label.setAttribute("datetime", store.clock.date);
    const days = store.clock.offset_days;
    $("date-offset").textContent = days ? `(+${days} day${days === 1 ? "" : "s"})` : "(today)";
  }

  function setMail(open) {
    document.body.dataset.mail = open ? "open" : "closed";
    $("toggle-mail").setAttribute("aria-expanded", String(open));
  }

  function renderAll() {
    renderClock();
    renderChatList();
    renderConversation();
    renderMail();
  }

  // -- live updates -----------------------------------------------------------------------

  function connect() {
    const source = new EventSource("/api/events");
    const on = (name, handler) =>
      source.addEventListener(name, (event) => {
        try {
          handler(JSON.parse(event.data));
        } catch (error) {
          console.error(name, error);
        }
      });
    source.onopen = () => {
      $("connection").textContent = "live";
      $("connection").className = "connection live";
    };
    source.onerror = () => {
      $("connection").textContent = "reconnecting…";
      $("connection").className = "connection down";
    };
    on("state", loadSnapshot);
    on("message", ({ chat_id, message }) => {
      if (!upsertMessage(chat_id, message)) return refresh();
      if (chat_id !== ui.chatId) ui.unread.set(chat_id, (ui.unread.get(chat_id) || 0) + 1);
      renderChatList();
    });
    on("edit", ({ chat_id, message }) => {
      upsertMessage(chat_id, message);
      renderChatList();
    });
    on("delete", ({ chat_id, message_id }) => {
      const chat = store.chats.get(chat_id);
      if (chat) chat.messages.delete(message_id);
      const node = document.getElementById(`m-${chat_id}-${message_id}`);
      if (node) node.remove();
      renderChatList();
    });
    on("notice", ({ chat_id, user_id, text, alert }) => {
      if (chat_id === ui.chatId && user_id === me(store.chats.get(chat_id))) toast(text, alert ? "alert" : "info");
    });
    on("mail", (mail) => {
      store.mails.set(mail.id, mail);
      renderMail();
      if (document.body.dataset.mail !== "open") toast(`New e-mail to ${mail.to.join(", ")}: ${mail.subject}`);
    });
    on("clock", (value) => {
      store.clock = value;
      renderClock();
    });
    on("resetting", () => status("Resetting the sandbox…"));
  }

  async function refresh() {
    const response = await fetch("/api/state");
    if (response.ok) loadSnapshot(await response.json());
  }

  // -- wiring -----------------------------------------------------------------------------

  function wire() {
    $("composer").addEventListener("submit", sendText);
    $("composer-text").addEventListener("input", grow);
    $("composer-text").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        $("composer").requestSubmit();
      } else if (event.key === "Escape" && ui.replyTo) {
        cancelReply();
      }
    });
    $("composer-file").addEventListener("change", sendFile);
    $("reply-cancel").addEventListener("click", () => cancelReply());
    $("identity-select").addEventListener("change", (event) => {
      ui.asUser.set(ui.chatId, Number(event.target.value));
      select(ui.chatId, false);
    });
    $("nav-back").addEventListener("click", () => {
      document.body.dataset.view = "list";
      setMail(false);
      const current = document.querySelector(".chat-item[aria-current]");
      (current || $("chat-list")).focus();
    });
    $("toggle-mail").addEventListener("click", () => {
      const open = document.body.dataset.mail !== "open";
      setMail(open);
      if (open) $("mailbox-heading").focus();
    });
    $("clock-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const days = Number($("clock-days").value);
      try {
        const result = await api("/api/clock", { days });
        store.clock = result.clock;
        renderClock();
        status(`The sandbox date is now ${result.clock.label}.`, "ok");
      } catch (error) {
        status(error.message, "error");
      }
    });
    $("run-reminders").addEventListener("click", async (event) => {
      const button = event.currentTarget;
      button.disabled = true;
      status("Running the reminders…");
      try {
        const result = await api("/api/reminders");
        status(`Reminders done: ${result.summary}`, "ok");
      } catch (error) {
        status(error.message, "error");
      } finally {
        button.disabled = false;
      }
    });
    $("reset").addEventListener("click", async (event) => {
      if (!window.confirm("Reset the sandbox to its sample data? Every chat, invoice and e-mail so far is forgotten.")) return;
      const button = event.currentTarget;
      button.disabled = true;
      status("Resetting the sandbox…");
      try {
        await api("/api/reset");
        status("The sandbox is back to its sample data.", "ok");
      } catch (error) {
        status(error.message, "error");
      } finally {
        button.disabled = false;
      }
    });
    $("mailbox-heading").setAttribute("tabindex", "-1");
    setMail(!narrow.matches);
    if (new URLSearchParams(location.hash.slice(1)).get("chat")) document.body.dataset.view = "chat";
  }

  wire();
  connect();
})();
