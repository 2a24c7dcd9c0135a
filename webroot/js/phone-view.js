// The phone's DOM: built once, in the light DOM (so page tests and assistive technology see plain
// elements). Accessible names are part of the contract in docs/embedding.md: dial box "Number",
// buttons "Call", "Hang up", "Hold"/"Resume", "Mute"/"Unmute", keypad "1".."9", "0", "*", "#", and ONE
// role="status" element with the state in words.

const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];

const CSS = `
web-phone { display:block; max-width:20rem; font:16px/1.4 system-ui,sans-serif; color:#1b1f24; }
web-phone .wp { border:1px solid #c9d1d9; border-radius:12px; padding:12px; background:#fff; box-sizing:border-box; }
web-phone [role=status] { font-weight:600; min-height:1.4em; }
web-phone .wp-detail { font-size:.85em; color:#57606a; min-height:1.2em; }
web-phone .wp-timer { font-variant-numeric:tabular-nums; color:#57606a; float:right; }
web-phone .wp-codec { font-size:.75em; color:#57606a; float:right; margin-right:8px; line-height:1.9; }
web-phone input.wp-number { width:100%; box-sizing:border-box; font-size:1.4em; padding:6px 8px; margin:8px 0; border:1px solid #8c959f; border-radius:8px; }
web-phone .wp-keys { display:grid; grid-template-columns:repeat(3,1fr); gap:6px; }
web-phone button { font:inherit; padding:10px 0; border-radius:8px; border:1px solid #8c959f; background:#f6f8fa; cursor:pointer; touch-action:manipulation; }
web-phone button:disabled { opacity:.45; cursor:default; }
web-phone button:focus-visible, web-phone input:focus-visible, web-phone select:focus-visible { outline:3px solid #0969da; outline-offset:1px; }
web-phone .wp-keys button { font-size:1.3em; }
web-phone .wp-main { display:grid; grid-template-columns:1fr 1fr; gap:6px; margin-top:8px; }
web-phone .wp-call { background:#1f883d; color:#fff; border-color:#1a7f37; }
web-phone .wp-hangup { background:#cf222e; color:#fff; border-color:#a40e26; }
web-phone .wp-extra { display:grid; grid-template-columns:1fr 1fr; gap:6px; margin-top:6px; }
web-phone details { margin-top:8px; font-size:.85em; }
web-phone details label { display:block; margin-top:4px; }
web-phone select { width:100%; }
web-phone meter { width:100%; height:8px; }
web-phone .wp-one { width:100%; }
@media (max-width: 420px) { web-phone { max-width:none; } }
`;

let styled = false;
function addStyle() {
  if (styled) return;
  styled = true;
  const s = document.createElement('style');
  s.textContent = CSS;
  document.head.appendChild(s);
}

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Builds the full phone into host; returns the parts the controller drives. */
export function buildPhone(host) {
  addStyle();
  const root = el('div', { class: 'wp' });
  const timer = el('span', { class: 'wp-timer', 'aria-label': 'Call time' }, '');
  const codec = el('span', { class: 'wp-codec', 'aria-label': 'Codec' }, '');
  const status = el('div', { role: 'status', 'aria-live': 'polite', class: 'wp-status' }, 'Connecting');
  const detail = el('div', { class: 'wp-detail' }, '');
  const number = el('input', {
    class: 'wp-number', type: 'tel', 'aria-label': 'Number', autocomplete: 'off', inputmode: 'tel', maxlength: '32',
  });
  const keys = el('div', { class: 'wp-keys' });
  const keyButtons = {};
  for (const k of KEYS) {
    const b = el('button', { type: 'button', 'data-key': k }, k);
    keys.appendChild(b);
    keyButtons[k] = b;
  }
  const main = el('div', { class: 'wp-main' });
  const call = el('button', { type: 'button', class: 'wp-call' }, 'Call');
  const hangup = el('button', { type: 'button', class: 'wp-hangup' }, 'Hang up');
  main.append(call, hangup);
  const extra = el('div', { class: 'wp-extra' });
  const hold = el('button', { type: 'button' }, 'Hold');
  const mute = el('button', { type: 'button' }, 'Mute');
  extra.append(hold, mute);
  const settings = el('details');
  settings.appendChild(el('summary', {}, 'Audio settings'));
  const mic = el('select', { 'aria-label': 'Microphone' });
  const speaker = el('select', { 'aria-label': 'Speaker' });
  const ringer = el('select', { 'aria-label': 'Ringing device' });
  const meter = el('meter', { min: '0', max: '1', value: '0', 'aria-label': 'Microphone level' });
  for (const [label, control] of [['Microphone', mic], ['Speaker', speaker], ['Ringing device', ringer]]) {
    const l = el('label', {}, label);
    l.appendChild(control);
    settings.appendChild(l);
  }
  settings.appendChild(meter);
  const remote = el('audio', { autoplay: '' });
  const ring = el('audio', {});
  root.append(timer, codec, status, detail, number, keys, main, extra, settings, remote, ring);
  host.replaceChildren(root);
  return { root, status, detail, timer, codec, number, keyButtons, call, hangup, hold, mute, mic, speaker, ringer, meter, remote, ring };
}

/** Click-to-call: one button, the status, and the hidden audio elements. */
export function buildClickToCall(host, label) {
  addStyle();
  const root = el('div', { class: 'wp' });
  const button = el('button', { type: 'button', class: 'wp-call wp-one' }, label);
  const status = el('div', { role: 'status', 'aria-live': 'polite', class: 'wp-status' }, '');
  const detail = el('div', { class: 'wp-detail' }, '');
  const timer = el('span', { class: 'wp-timer', 'aria-label': 'Call time' }, '');
  const codec = el('span', { class: 'wp-codec', 'aria-label': 'Codec' }, '');
  const remote = el('audio', { autoplay: '' });
  const ring = el('audio', {});
  root.append(button, timer, codec, status, detail, remote, ring);
  host.replaceChildren(root);
  return { root, button, status, detail, timer, codec, remote, ring };
}
