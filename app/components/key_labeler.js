// The keyboard labeler (see key_labeler.py). Untrusted text (prompts, labels, suggestions, slot
// values, reasons) only ever goes into the DOM as text: textContent and value, never innerHTML.
//
// Nothing is lost: every answer gets a sequence number and stays in `pending` until Python
// acknowledges it (data.applied[CLIENT] >= seq); the whole pending list is sent as component
// STATE, so a rerun that starts before an answer arrives still gets it on the next run.

const EMPTY = "\u2014";
const CLIENT = (globalThis.crypto && crypto.randomUUID)
  ? crypto.randomUUID()
  : `c${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
let seq = 0;
let pending = [];          // answers sent and not yet acknowledged, oldest first
const shownAt = new Map(); // assignment id -> performance.now() when it came on screen
let active = null;         // the mounted labeler that keys go to
const RETRY_MS = 2000;     // while the database is unreachable: ask the page again this often
let retries = 0;
let retryTimer = null;

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function typing(event) {
  const target = (event.composedPath && event.composedPath()[0]) || event.target;
  if (!target || !target.tagName) return false;
  const tag = target.tagName.toUpperCase();
  return tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || target.isContentEditable;
}

function onKey(event) {
  const ui = active;
  if (!ui || !ui.root.isConnected || event.ctrlKey || event.metaKey || event.altKey) return;
  if (typing(event)) return;
  const key = (event.key || "").toUpperCase();
  if (key.length !== 1) return;
  const data = ui.data;
  let handled = true;
  if (event.repeat) {
    handled = ui.keyOf.has(key) || key === data.unsure_key || key === data.skip_key;
  } else if (ui.keyOf.has(key)) {
    ui.answer({ kind: "label", value: ui.keyOf.get(key) });
  } else if (key === data.unsure_key) {
    ui.answer({ kind: "unsure", value: null });
  } else if (key === data.skip_key) {
    ui.answer({ kind: "skip", value: null });
  } else {
    handled = false;
  }
  if (handled) {
    event.preventDefault();
    event.stopPropagation();
  }
}
document.addEventListener("keydown", onKey, true);

class Labeler {
  constructor(parent, setStateValue) {
    this.parent = parent;
    this.send = setStateValue;
    this.root = parent.querySelector(".kl");
    this.card = this.root.querySelector(".kl-card");
    this.num = this.root.querySelector(".kl-num");
    this.ready = this.root.querySelector(".kl-ready");
    this.text = this.root.querySelector(".kl-text");
    this.hint = this.root.querySelector(".kl-suggest");
    this.slotsBox = this.root.querySelector(".kl-slots");
    this.labelsBox = this.root.querySelector(".kl-labels");
    this.actions = this.root.querySelector(".kl-actions");
    this.msg = this.root.querySelector(".kl-msg");
    this.help = this.root.querySelector(".kl-help");
    this.signature = null;
    this.current = null;
    this.keyOf = new Map();
    this.buttons = new Map();
    this.msgTimer = null;
  }

  update(data) {
    this.data = data;
    const mine = (data.applied || {})[CLIENT] || 0;
    pending = pending.filter((a) => a.seq > mine);
    const signature = JSON.stringify([data.task, data.labels, data.slots, data.skip_reasons]);
    if (signature !== this.signature) {
      this.signature = signature;
      this.build();
      this.current = null;
    }
    this.show();
    clearTimeout(retryTimer);
    if (data.status === "offline") { // rerun the page's fragment until the database is back
      retryTimer = setTimeout(() => this.send("retry", ++retries), RETRY_MS);
    }
  }

  build() {
    const data = this.data;
    this.keyOf.clear();
    this.buttons.clear();
    this.labelsBox.replaceChildren();
    for (const label of data.labels) {
      const button = el("button", "kl-btn kl-label");
      button.type = "button";
      button.append(el("span", "kl-name", label.value));
      if (label.key) {
        button.append(el("kbd", null, label.key));
        this.keyOf.set(label.key, label.value);
      }
      button.addEventListener("click", () => this.answer({ kind: "label", value: label.value }));
      this.buttons.set(label.value, button);
      this.labelsBox.append(button);
    }
    this.slotsBox.replaceChildren(
      el("div", "kl-slots-note", "Slots \u2014 fill only what the prompt says; they are saved "
        + "with the label."));
    this.slotFields = [];
    for (const slot of data.slots) {
      const wrap = el("label", "kl-slot");
      wrap.append(el("span", "kl-slot-name", slot.label));
      let field;
      if (slot.values) {
        field = el("select");
        for (const value of [EMPTY, ...slot.values]) {
          const option = el("option", null, value);
          option.value = value;
          field.append(option);
        }
        field.addEventListener("change", () => field.blur());
      } else {
        field = el("input");
        field.type = "text";
        field.placeholder = "free text";
        field.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === "Escape") field.blur(); });
      }
      field.dataset.slot = slot.name;
      wrap.append(field);
      this.slotFields.push(field);
      this.slotsBox.append(wrap);
    }
    this.slotsBox.hidden = data.slots.length === 0;
    this.actions.replaceChildren();
    const unsure = el("button", "kl-btn kl-secondary");
    unsure.type = "button";
    unsure.append(el("span", "kl-name", "Unsure"), el("kbd", null, data.unsure_key));
    unsure.addEventListener("click", () => this.answer({ kind: "unsure", value: null }));
    this.reason = el("select", "kl-reason");
    const prompt = el("option", null, "Why skip?");
    prompt.value = "";
    this.reason.append(prompt);
    for (const reason of data.skip_reasons) {
      const option = el("option", null, reason);
      option.value = reason;
      this.reason.append(option);
    }
    this.detail = el("input", "kl-detail");
    this.detail.type = "text";
    this.detail.placeholder = "Say why (optional)";
    this.detail.hidden = true;
    this.reason.addEventListener("change", () => {
      this.detail.hidden = this.reason.value !== "Other";
      this.reason.classList.remove("kl-wanted");
      this.reason.blur();
    });
    this.detail.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === "Escape") this.detail.blur(); });
    const skip = el("button", "kl-btn kl-secondary");
    skip.type = "button";
    skip.append(el("span", "kl-name", "Skip"), el("kbd", null, data.skip_key));
    skip.addEventListener("click", () => this.answer({ kind: "skip", value: null }));
    this.actions.append(unsure, this.reason, this.detail, skip);
    this.help.textContent = `Keyboard: the key on a label \u00b7 ${data.unsure_key} unsure \u00b7 `
      + `${data.skip_key} skip (choose a reason first) \u00b7 keys do nothing while a field has focus`;
  }

  waiting() {
    const taken = new Set(pending.map((a) => a.assignment_id));
    return this.data.items.filter((item) => !taken.has(item.assignment_id));
  }

  show() {
    const queue = this.waiting();
    const next = queue[0] || null;
    if (!next || !this.current || next.assignment_id !== this.current.assignment_id) {
      this.present(next);
    }
    this.ready.textContent = queue.length > 1 ? `${queue.length - 1} more ready` : "";
  }

  present(item) {
    this.current = item;
    this.root.dataset.state = item ? "ready" : this.data.status === "done" ? "done" : "loading";
    this.root.dataset.item = item ? String(item.item_id) : "";
    for (const button of this.buttons.values()) button.classList.remove("kl-suggested");
    for (const field of this.slotFields || []) field.value = field.tagName === "SELECT" ? EMPTY : "";
    if (this.reason) { this.reason.value = ""; this.detail.value = ""; this.detail.hidden = true; }
    if (!item) {
      this.num.textContent = "";
      this.text.textContent = this.data.status === "done"
        ? "Nothing left for you here \u2014 thank you!"
        : this.data.status === "offline"
          ? "Waiting for the database\u2026 your answers are kept in this tab."
          : "Loading your next prompt\u2026";
      this.hint.textContent = "";
      return;
    }
    if (!shownAt.has(item.assignment_id)) shownAt.set(item.assignment_id, performance.now());
    this.num.textContent = `Prompt #${item.item_id}`;
    this.text.textContent = item.text;
    const suggestion = item.suggestion;
    if (suggestion) {
      this.hint.textContent = `Model suggests: ${suggestion.label} `
        + `(${Math.round(suggestion.probability * 100)}%)`;
      const button = this.buttons.get(suggestion.label);
      if (button) button.classList.add("kl-suggested");
    } else {
      this.hint.textContent = "";
    }
    this.card.classList.remove("kl-enter");
    void this.card.offsetWidth; // restart the entry animation
    this.card.classList.add("kl-enter");
  }

  note(text, kind) {
    this.msg.textContent = text;
    this.msg.dataset.kind = kind;
    clearTimeout(this.msgTimer);
    this.msgTimer = setTimeout(() => { this.msg.textContent = ""; }, kind === "ok" ? 2500 : 8000);
  }

  slots() {
    const filled = {};
    for (const field of this.slotFields || []) {
      const value = field.value.trim();
      if (value && value !== EMPTY) filled[field.dataset.slot] = value;
    }
    return filled;
  }

  answer({ kind, value }) {
    const item = this.current;
    if (!item) {
      this.note(this.data.status === "done"
        ? "Nothing left to label \u2014 that press was not used."
        : "No prompt on screen \u2014 that press was not used. Press again when the prompt "
          + "shows.", "refused");
      return;
    }
    let reason = null;
    if (kind === "skip") {
      reason = this.reason.value;
      if (!reason) {
        this.reason.classList.add("kl-wanted");
        this.note(`Choose a reason in \u201cWhy skip?\u201d first, then press ${this.data.skip_key} `
          + `to skip prompt #${item.item_id}.`, "warn");
        return;
      }
      const detail = this.detail.value.trim();
      if (reason === "Other" && detail) reason = `Other: ${detail}`;
    }
    const started = shownAt.get(item.assignment_id) ?? performance.now();
    const answer = {
      client: CLIENT, seq: ++seq, assignment_id: item.assignment_id, item_id: item.item_id,
      kind, value, slots: kind === "skip" ? {} : this.slots(), reason,
      seconds: Math.round(performance.now() - started) / 1000,
    };
    pending.push(answer);
    shownAt.delete(item.assignment_id);
    this.send("answers", pending.slice());
    const what = kind === "skip" ? "skipped" : kind === "unsure" ? "unsure" : value;
    this.note(`Prompt #${item.item_id}: ${what}`, "ok");
    this.present(this.waiting()[0] || null);
    const left = this.waiting().length;
    this.ready.textContent = left > 1 ? `${left - 1} more ready` : "";
  }
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let ui = parentElement.__keyLabeler;
  const fresh = !ui || !ui.root || !ui.root.isConnected;
  if (fresh) {
    ui = new Labeler(parentElement, setStateValue);
    parentElement.__keyLabeler = ui;
  }
  ui.send = setStateValue;
  active = ui;
  ui.update(data);
  const mine = (data.applied || {})[CLIENT] || 0;
  if (fresh && pending.some((a) => a.seq > mine)) {
    setStateValue("answers", pending.slice()); // a remount: hand over what is still unsaved
  }
}
