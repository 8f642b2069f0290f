// The playground page: every persona's chat with the bot, side by side, as a phone shows it.
//
// The bot's text arrives as plain text plus Telegram entities (the emulator parsed the HTML the
// bot sent, as Telegram does); the page builds DOM nodes from them and never assigns HTML, so
// nothing the bot or a user typed can inject markup. One long poll (/_emulator/playground)
// wakes the page on every change; a changed chat is fetched whole and drawn again.
"use strict";

const API = "/_emulator";
const ROLE_LABELS = { asn: "ASN", worker: "Worker", admin: "Admin", person: "Person" };
const ROLE_HINTS = {
  asn: "a civil servant who sponsors a worker",
  worker: "the worker an ASN sponsors: invitation links open here",
  admin: "the programme's admin (ADMIN_IDS of the playground)",
  person: "anyone",
};
const TOAST_MS = 3500;
const SAFE_SCHEMES = ["http:", "https:", "tg:", "mailto:"];

const state = {
  bot: { username: "", first_name: "Bot" },
  token: null,
  personas: [],
  phones: [], // one per persona position: {root, chat, ...}
  selected: 0,
  inspector: false,
};

// --------------------------------------------------------------------------------- helpers

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

async function api(path, body) {
  const options =
    body === undefined
      ? {}
      : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(API + path, options);
  if (!response.ok) {
    throw new Error(`${path}: HTTP ${response.status} ${await response.text()}`);
  }
  return response.json();
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function clock(seconds) {
  const date = new Date(seconds * 1000);
  return `${String(date.getHours()).padStart(2, "0")}:${String(date.getMinutes()).padStart(2, "0")}`;
}

function size(bytes) {
  if (bytes === null || bytes === undefined) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// A phone number as the page shows it: masked, like the bot's own masks (never in full).
function maskPhone(phone) {
  const text = String(phone || "");
  if (text.length < 9) return "*".repeat(text.length);
  return text.slice(0, 6) + "*".repeat(text.length - 10) + text.slice(-4);
}

function safeUrl(href) {
  try {
    const url = new URL(href, window.location.href);
    return SAFE_SCHEMES.includes(url.protocol) ? url.href : null;
  } catch (error) {
    return null;
  }
}

// The start parameter of a deep link to this bot (t.me/<bot>?start=...), "" for a plain link to
// the bot, null for any other link.
function deepLinkStart(href) {
  let url;
  try {
    url = new URL(href);
  } catch (error) {
    return null;
  }
  const host = url.hostname.toLowerCase();
  if (!["t.me", "telegram.me", "www.t.me"].includes(host)) return null;
  const name = url.pathname.replace(/^\/+|\/+$/g, "").toLowerCase();
  if (!state.bot.username || name !== state.bot.username.toLowerCase()) return null;
  return url.searchParams.get("start") || "";
}

const LINK_IN_TEXT = /https?:\/\/t\.me\/[A-Za-z0-9_]+\?start=[A-Za-z0-9_-]+/;

function deepLinkIn(message) {
  for (const entity of message.entities || []) {
    if (entity.type === "text_link" && deepLinkStart(entity.url) !== null) return entity.url;
  }
  const found = LINK_IN_TEXT.exec(message.text || "");
  return found && deepLinkStart(found[0]) !== null ? found[0] : null;
}

// ------------------------------------------------------------------------ formatted text

// What Telegram clients link in plain text: web addresses and, in a bot's messages, /commands.
const AUTO_LINKS = /(https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)])|(^|[\s(])(\/[a-zA-Z0-9_]{1,32})(?![\w/])/g;

function plainText(parent, text, ctx) {
  if (!ctx.autolink) {
    parent.append(document.createTextNode(text));
    return;
  }
  let position = 0;
  for (const match of text.matchAll(AUTO_LINKS)) {
    const url = match[1];
    const command = match[3];
    const start = url ? match.index : match.index + match[2].length;
    parent.append(document.createTextNode(text.slice(position, start)));
    if (url) {
      parent.append(link(url, url, ctx));
      position = start + url.length;
    } else {
      const node = el("span", "command", command);
      node.title = `Send ${command}`;
      node.addEventListener("click", () => sendText(ctx.phone, command));
      parent.append(node);
      position = start + command.length;
    }
  }
  parent.append(document.createTextNode(text.slice(position)));
}

function link(href, text, ctx) {
  const safe = safeUrl(href);
  if (safe === null) return el("span", null, text);
  const anchor = el("a", null, text);
  anchor.href = safe;
  anchor.target = "_blank";
  anchor.rel = "noopener noreferrer";
  const start = deepLinkStart(safe);
  if (start !== null) {
    anchor.classList.add("deep-link");
    anchor.title = "Opens the bot in the worker's chat, as Telegram would";
    anchor.addEventListener("click", (event) => {
      event.preventDefault();
      openDeepLink(start, ctx.phone);
    });
  }
  return anchor;
}

function entityNode(entity, text, ctx) {
  switch (entity.type) {
    case "bold":
      return el("b");
    case "italic":
      return el("i");
    case "underline":
      return el("u");
    case "strikethrough":
      return el("s");
    case "code":
      return el("code");
    case "pre":
      return el("pre");
    case "blockquote":
    case "expandable_blockquote":
      return el("blockquote");
    case "spoiler": {
      const node = el("span", "spoiler");
      node.addEventListener("click", () => node.classList.add("shown"));
      return node;
    }
    case "text_link":
      return link(entity.url, "", ctx);
    case "url":
      return link(text, "", ctx);
    case "email":
      return link(`mailto:${text}`, "", ctx);
    case "bot_command":
      if (ctx.autolink) {
        const node = el("span", "command");
        node.addEventListener("click", () => sendText(ctx.phone, text));
        return node;
      }
      return el("span");
    default:
      return el("span");
  }
}

// Entities nest (bold inside a link) but never cross; offsets are UTF-16 code units, as are
// JavaScript string indices.
function formatted(text, entities, ctx) {
  const fragment = document.createDocumentFragment();
  const sorted = [...(entities || [])]
    .filter((e) => e.length > 0)
    .sort((a, b) => a.offset - b.offset || b.length - a.length);

  function build(parent, start, end, list, context) {
    let position = start;
    let index = 0;
    while (index < list.length) {
      const entity = list[index];
      const from = Math.max(entity.offset, position);
      const to = Math.min(entity.offset + entity.length, end);
      if (from > position) plainText(parent, text.slice(position, from), context);
      let next = index + 1;
      const inner = [];
      while (next < list.length && list[next].offset < entity.offset + entity.length) {
        inner.push(list[next]);
        next += 1;
      }
      if (to > from) {
        const node = entityNode(entity, text.slice(from, to), context);
        // Inside links and code nothing more is linked.
        const plain = ["A", "CODE", "PRE"].includes(node.tagName);
        build(node, from, to, inner, plain ? { ...context, autolink: false } : context);
        parent.append(node);
      }
      position = Math.max(position, to);
      index = next;
    }
    if (position < end) plainText(parent, text.slice(position, end), context);
  }

  build(fragment, 0, text.length, sorted, ctx);
  return fragment;
}

// ---------------------------------------------------------------------------- the phones

function makePhone(index) {
  const root = el("div", "persona");
  root.dataset.index = String(index);
  const label = el("div", "persona-label");
  const role = el("span", "role");
  const name = el("span", "persona-name");
  const id = el("span", "persona-id");
  const clear = el("button", "clear-chat", "Clear chat");
  clear.type = "button";
  clear.title = "Hide this chat's messages on the page (as Telegram's 'clear history'; the bot remembers)";
  label.append(role, name, id, clear);

  const phone = el("div", "phone");
  const head = el("div", "chat-head");
  const avatar = el("div", "avatar");
  const titles = el("div");
  const title = el("div", "chat-title");
  const subtitle = el("div", "chat-subtitle", "bot");
  titles.append(title, subtitle);
  head.append(avatar, titles);

  const wrap = el("div", "chat-wrap");
  const chat = el("div", "chat");
  const toasts = el("div", "toasts");
  const backdrop = el("div", "alert-backdrop");
  backdrop.hidden = true;
  const alert = el("div", "alert");
  alert.setAttribute("role", "alertdialog");
  const alertTitle = el("div", "alert-title");
  const alertText = el("div", "alert-text");
  const alertOk = el("button", "alert-ok", "OK");
  alertOk.type = "button";
  alert.append(alertTitle, alertText, alertOk);
  backdrop.append(alert);
  wrap.append(chat, toasts, backdrop);

  const replyKb = el("div", "reply-kb");
  replyKb.hidden = true;
  const composer = el("form", "composer");
  const menu = el("button", "menu-btn", "Menu");
  menu.type = "button";
  const input = el("input", "composer-input");
  input.placeholder = "Message";
  input.autocomplete = "off";
  const send = el("button", "send-btn", "➤");
  send.type = "submit";
  send.title = "Send";
  composer.append(menu, input, send);

  phone.append(head, wrap, replyKb, composer);
  root.append(label, phone);

  const view = {
    index, root, role, name, id, title, avatar, chat, toasts, backdrop, alertTitle, alertText,
    replyKb, input, composer, menu,
    userId: null, version: null, seenAnswer: null, stick: true, count: 0, menuList: null,
  };
  chat.addEventListener("scroll", () => {
    view.stick = chat.scrollHeight - chat.scrollTop - chat.clientHeight < 60;
  });
  alertOk.addEventListener("click", () => { backdrop.hidden = true; });
  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    sendText(view, text);
  });
  menu.addEventListener("click", () => toggleMenu(view));
  clear.addEventListener("click", () => act(view, `/users/${view.userId}/clear`, {}));
  root.addEventListener("mousedown", () => select(index));
  return view;
}

function persona(view) {
  return state.personas[view.index];
}

function drawLabel(view) {
  const who = persona(view);
  view.root.dataset.role = who.role;
  view.root.dataset.userId = String(who.user_id);
  view.role.textContent = ROLE_LABELS[who.role] || who.role;
  view.role.className = `role role-${who.role}`;
  view.role.title = ROLE_HINTS[who.role] || "";
  view.name.textContent = [who.first_name, who.last_name].filter(Boolean).join(" ");
  view.id.textContent = `· id ${who.user_id}`;
  view.title.textContent = state.bot.first_name || "Bot";
  view.avatar.textContent = (state.bot.first_name || "B").slice(0, 1).toUpperCase();
}

function select(index) {
  if (state.selected === index) return;
  state.selected = index;
  for (const view of state.phones) view.root.classList.toggle("selected", view.index === index);
  refreshPanel();
}

// ------------------------------------------------------------------------------ actions

async function act(view, path, body) {
  try {
    await api(path, body);
  } catch (error) {
    toast(view, `⚠️ ${error.message}`);
  }
}

function sendText(view, text) {
  view.stick = true;
  return act(view, `/users/${view.userId}/text`, { text });
}

// A deep link opens the bot in the worker's chat (the person the invitation is for), as tapping
// it on the worker's phone would: Telegram then sends "/start <parameter>".
function openDeepLink(parameter, from) {
  const target =
    state.phones.find((view) => persona(view).role === "worker" && view !== from) || from;
  select(target.index);
  target.root.scrollIntoView({ behavior: "smooth", inline: "center", block: "nearest" });
  target.stick = true;
  const body = parameter ? { command: "start", arg: parameter } : { command: "start" };
  return act(target, `/users/${target.userId}/command`, body);
}

async function toggleMenu(view) {
  if (view.menuList) {
    view.menuList.remove();
    view.menuList = null;
    return;
  }
  const language = "id";
  let { commands } = await api(`/commands?language_code=${language}`);
  if (!commands.length) ({ commands } = await api("/commands"));
  const list = el("div", "menu-list");
  if (!commands.length) list.append(el("div", "menu-item muted", "The bot set no commands."));
  for (const command of commands) {
    const item = el("button", "menu-item");
    item.type = "button";
    item.append(el("b", null, `/${command.command}`), document.createTextNode(` ${command.description}`));
    item.addEventListener("click", () => {
      list.remove();
      view.menuList = null;
      sendText(view, `/${command.command}`);
    });
    list.append(item);
  }
  view.composer.append(list);
  view.menuList = list;
}

// ---------------------------------------------------------------------------- messages

function bubbleFor(view, message, all, index) {
  const out = !message.from_bot;
  const row = el("div", `msg ${out ? "out" : "in"}`);
  row.dataset.messageId = String(message.message_id);
  const bubble = el("div", "bubble");
  const ctx = { phone: view, autolink: message.from_bot };
  const raw = message.raw || {};

  if (message.has_photo) {
    bubble.classList.add("media");
    const image = el("img", "photo");
    image.alt = "photo";
    image.src = `${API}/users/${view.userId}/photos/${message.message_id}`;
    image.addEventListener("load", () => { if (view.stick) scrollDown(view); });
    bubble.append(image);
    // An invitation's QR code: the link it encodes is sent in the same turn; scanning it with
    // the worker's phone is a click here.
    const nearby = all.slice(index + 1, index + 4).map(deepLinkIn).find(Boolean);
    if (nearby) {
      image.classList.add("qr");
      image.title = "Scan: opens the invitation in the worker's chat";
      const hint = el("span", "qr-hint", "📷 Scan with the worker's phone");
      const open = () => openDeepLink(deepLinkStart(nearby), view);
      image.addEventListener("click", open);
      hint.addEventListener("click", open);
      bubble.append(hint);
    }
  }
  if (message.document) {
    const file = el("div", "file");
    const icon = el("div", "file-icon", "📄");
    const about = el("div");
    const name = message.document.file_name || "file";
    if (message.document.downloadable) {
      const anchor = el("a", "file-name", name);
      anchor.href = `${API}/users/${view.userId}/documents/${message.message_id}`;
      anchor.download = name;
      about.append(anchor);
    } else {
      about.append(el("div", "file-name", name));
    }
    about.append(el("div", "file-size", size(message.document.file_size)));
    file.append(icon, about);
    bubble.append(file);
  }
  const body = el("div", "text");
  if (raw.contact) {
    const card = el("div", "contact-card");
    card.append(el("div", "avatar", "👤"));
    const who = el("div");
    who.append(
      el("div", "persona-name", [raw.contact.first_name, raw.contact.last_name].filter(Boolean).join(" ")),
      el("div", "file-size", maskPhone(raw.contact.phone_number)),
    );
    card.append(who);
    body.append(card);
  } else if (message.text) {
    body.append(formatted(message.text, message.entities, ctx));
  } else if (!message.has_photo && !message.document) {
    const kinds = ["photo", "sticker", "voice", "location", "video", "audio"];
    const kind = kinds.find((name) => raw[name]) || "message";
    body.append(el("span", "placeholder", `[${kind}]`));
  }
  if (body.childNodes.length) bubble.append(body);
  const meta = el("span", "meta", `${message.edit_count ? "edited " : ""}${clock(message.date)}${out ? " ✓✓" : ""}`);
  (body.childNodes.length ? body : bubble).append(meta);
  row.append(bubble);

  const keyboard = (message.reply_markup && message.reply_markup.inline_keyboard) || [];
  if (keyboard.length) row.append(inlineKeyboard(view, message, keyboard));
  return row;
}

function inlineKeyboard(view, message, rows) {
  const keyboard = el("div", "inline-kb");
  for (const buttons of rows) {
    const line = el("div", "kb-row");
    for (const button of buttons) {
      const node = el("button", "kb-btn", button.text);
      node.type = "button";
      if (button.url) {
        node.classList.add("url");
        node.addEventListener("click", () => {
          const start = deepLinkStart(button.url);
          if (start !== null) openDeepLink(start, view);
          else if (safeUrl(button.url)) window.open(safeUrl(button.url), "_blank", "noopener");
        });
      } else if (button.callback_data !== undefined) {
        // Old messages keep working buttons, as in Telegram: the bot answers a stale press.
        node.addEventListener("click", () => {
          node.classList.add("pending");
          view.stick = true;
          act(view, `/users/${view.userId}/press`, {
            data: button.callback_data,
            message_id: message.message_id,
          });
        });
      } else {
        node.disabled = true;
      }
      line.append(node);
    }
    keyboard.append(line);
  }
  return keyboard;
}

function drawReplyKeyboard(view, markup) {
  view.replyKb.replaceChildren();
  const rows = (markup && markup.keyboard) || [];
  view.replyKb.hidden = rows.length === 0;
  for (const buttons of rows) {
    const line = el("div", "kb-row");
    for (const button of buttons) {
      const text = typeof button === "string" ? button : button.text;
      const node = el("button", "reply-btn", text);
      node.type = "button";
      if (button.request_contact) {
        node.classList.add("contact");
        node.title = "Shares this persona's own contact (its phone number)";
      }
      node.addEventListener("click", () => {
        view.stick = true;
        act(view, `/users/${view.userId}/tap`, { label: text });
      });
      line.append(node);
    }
    view.replyKb.append(line);
  }
}

function emptyHint(view) {
  const hint = el("div", "empty-hint");
  const who = persona(view);
  hint.append(
    el("div", null, `${who.first_name}'s chat with @${state.bot.username || "bot"} is empty.`),
    el("div", null, "Ketik /start untuk mulai · Type /start to begin."),
  );
  const start = el("button", null, "START");
  start.type = "button";
  start.addEventListener("click", () => sendText(view, "/start"));
  hint.append(start);
  return hint;
}

function scrollDown(view) {
  view.chat.scrollTop = view.chat.scrollHeight;
}

function drawChat(view, data) {
  const who = persona(view);
  const shown = data.messages.filter((m) => !m.deleted && m.message_id > who.hidden_before);
  const grew = shown.length !== view.count;
  view.chat.replaceChildren();
  if (!shown.length) view.chat.append(emptyHint(view));
  shown.forEach((message, index) => view.chat.append(bubbleFor(view, message, shown, index)));
  drawReplyKeyboard(view, data.reply_keyboard_markup);
  if (view.stick || grew) {
    scrollDown(view);
    view.stick = true;
  }
  view.count = shown.length;
  announce(view, data.callback_answers || []);
}

// The bot's answers to button presses: a toast, or an alert to dismiss (show_alert). Answers
// from before the page was opened are not replayed.
function announce(view, answers) {
  const newest = answers.length ? answers[answers.length - 1].number : 0;
  if (view.seenAnswer === null) {
    view.seenAnswer = newest;
    return;
  }
  for (const answer of answers) {
    if (answer.number <= view.seenAnswer || !answer.text) continue;
    if (answer.show_alert) {
      view.alertTitle.textContent = state.bot.first_name || "Bot";
      view.alertText.textContent = answer.text;
      view.backdrop.hidden = false;
    } else {
      toast(view, answer.text);
    }
  }
  view.seenAnswer = Math.max(view.seenAnswer, newest);
}

function toast(view, text) {
  const node = el("div", "toast", text);
  view.toasts.append(node);
  setTimeout(() => node.classList.add("fading"), TOAST_MS);
  setTimeout(() => node.remove(), TOAST_MS + 500);
}

// ------------------------------------------------------------------------------ the panel

const HIDDEN_KEYS = new Set(["consents", "invitations"]);
const TIMESTAMP = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})[\d:.]*([+-]\d{2}:\d{2}|Z)?$/;

// A value as the panel shows it: timestamps to the minute, with their zone.
function shown(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "object") return JSON.stringify(value);
  const time = TIMESTAMP.exec(String(value));
  if (!time) return String(value);
  const zone = !time[3] || time[3] === "+00:00" || time[3] === "Z" ? "UTC" : time[3];
  return `${time[1]} ${time[2]} ${zone}`;
}

function kv(object) {
  const list = el("dl", "kv");
  for (const [key, value] of Object.entries(object || {})) {
    if (value === null || value === undefined || value === "" || HIDDEN_KEYS.has(key)) continue;
    if (Array.isArray(value) && !value.length) continue;
    list.append(el("dt", null, key.replaceAll("_", " ")));
    list.append(el("dd", null, shown(value)));
  }
  return list;
}

function rowsTable(rows, columns) {
  const table = el("table", "rows");
  const head = el("tr");
  for (const column of columns) head.append(el("th", null, column.replaceAll("_", " ")));
  table.append(head);
  for (const row of rows) {
    const line = el("tr");
    for (const column of columns) line.append(el("td", null, shown(row[column])));
    table.append(line);
  }
  return table;
}

function section(parent, title, ...children) {
  parent.append(el("h3", null, title), ...children);
}

async function refreshPanel() {
  const view = state.phones[state.selected];
  const body = document.getElementById("panel-body");
  if (!view || !view.userId) return;
  const who = persona(view);
  if (!state.inspector) {
    body.replaceChildren(el("p", "muted", "No inspector: run the bot with `peduli playground` to see what it stored."));
    return;
  }
  let data;
  try {
    data = await api(`/users/${view.userId}/inspect`);
  } catch (error) {
    body.replaceChildren(el("p", "muted", `Could not read: ${error.message}`));
    return;
  }
  if (state.phones[state.selected] !== view) return; // another persona was selected meanwhile
  const content = document.createDocumentFragment();
  content.append(el("div", "panel-who", `${ROLE_LABELS[who.role]} · ${who.first_name} ${who.last_name || ""} · id ${who.user_id}`));

  const talk = data.conversation || {};
  const now = el("dl", "kv");
  const flow = talk.flow ? `${talk.flow_title || talk.flow} (${talk.flow})` : "none (between flows)";
  for (const [key, value] of [
    ["flow", flow],
    ["step", talk.step],
    ["waiting for", talk.interrupt],
    ["prompt number", talk.prompt_number],
    ["failed tries", talk.failures || null],
    ["list search", talk.list_search],
    ["editing from summary", talk.editing ? "yes" : null],
    ["draft put aside", talk.parked_draft ? "yes" : null],
    ["last activity", talk.updated_at],
  ]) {
    if (value === null || value === undefined) continue;
    now.append(el("dt", null, key), el("dd", null, shown(value)));
  }
  section(content, "Conversation", now);
  const answers = talk.answers || {};
  section(content, "Answers so far", Object.keys(answers).length ? kv(answers) : el("p", "muted", "none"));

  const roles = [];
  if (data.superadmin) roles.push("superadmin (ADMIN_IDS)");
  for (const role of data.staff_roles || []) roles.push(`${role.role} of ${role.agency_code}`);
  if (data.sponsor) roles.push("ASN sponsor");
  if ((data.sponsorships || []).some((s) => s.role === "worker")) roles.push("sponsored worker");
  section(content, "Who the bot thinks this is", el("p", null, roles.join(", ") || "nobody yet (not registered)"));

  if (data.sponsor) section(content, "Sponsor record", kv(data.sponsor));
  const sponsorships = data.sponsorships || [];
  const cards = document.createDocumentFragment();
  for (const item of sponsorships) {
    const card = el("div", "card");
    const title = el("h4", null, `${item.reference} `);
    title.append(el("span", "status", item.status));
    card.append(title, kv(item));
    if (item.consents.length) {
      card.append(el("div", "muted", "consents"), rowsTable(item.consents, ["kind", "action", "channel", "amount", "recorded_at"]));
    }
    if (item.invitations.length) {
      card.append(el("div", "muted", "invitations"), rowsTable(item.invitations, ["expires_at", "opened_by_user_id", "used_at"]));
    }
    cards.append(card);
  }
  section(content, `Sponsorships (${sponsorships.length})`, sponsorships.length ? cards : el("p", "muted", "none"));
  const outbox = data.outbox || [];
  section(
    content,
    "Outbox (newest messages queued for this person)",
    outbox.length ? rowsTable(outbox, ["id", "kind", "created_at", "sent_at", "outcome"]) : el("p", "muted", "empty"),
  );
  body.replaceChildren(content);
}

// ------------------------------------------------------------------------------ the loop

async function apply(data) {
  state.token = data.token;
  state.bot = data.bot;
  state.inspector = data.inspector;
  state.personas = data.personas;
  document.getElementById("bot-name").textContent = `${data.bot.first_name} (@${data.bot.username})`;
  const phones = document.getElementById("phones");
  while (state.phones.length < data.personas.length) {
    const view = makePhone(state.phones.length);
    state.phones.push(view);
    phones.append(view.root);
  }
  while (state.phones.length > data.personas.length) state.phones.pop().root.remove();
  const fetches = [];
  for (const view of state.phones) {
    const who = persona(view);
    if (view.userId !== who.user_id) {
      // A new person in this place (a reset): nothing of the earlier chat carries over.
      view.userId = who.user_id;
      view.version = null;
      view.seenAnswer = null;
      view.count = 0;
      view.stick = true;
    }
    drawLabel(view);
    view.root.classList.toggle("selected", view.index === state.selected);
    if (view.version !== who.version) {
      const version = who.version;
      fetches.push(
        api(`/users/${who.user_id}/messages?history=1`).then((chat) => {
          if (view.userId === who.user_id) {
            drawChat(view, chat);
            view.version = version;
          }
        }),
      );
    }
  }
  await Promise.all(fetches);
  await refreshPanel();
}

async function run() {
  const connection = document.getElementById("connection");
  for (;;) {
    try {
      const query = state.token === null ? "" : `?since=${encodeURIComponent(state.token)}&wait=20`;
      await apply(await api(`/playground${query}`));
      connection.hidden = true;
    } catch (error) {
      connection.hidden = false;
      await sleep(1000);
    }
  }
}

function setUp() {
  document.getElementById("new-persona").addEventListener("click", () => api("/personas", {}));
  const reset = document.getElementById("reset");
  let armed = null;
  reset.addEventListener("click", async () => {
    if (armed === null) {
      reset.classList.add("armed");
      reset.textContent = "Click again to reset";
      armed = setTimeout(() => {
        reset.classList.remove("armed");
        reset.textContent = "⟲ Reset playground";
        armed = null;
      }, 4000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    reset.classList.remove("armed");
    reset.textContent = "⟲ Reset playground";
    await api("/reset", {});
  });
  run();
}

setUp();
