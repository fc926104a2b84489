// The composer under a thread: text (Enter sends, Shift+Enter starts a new line), a quoted
// reply, files by button, drag-and-drop and paste (uploaded with progress), and voice notes.

import { api, upload } from './api.js';
import { t } from './i18n.js';
import { h, replace, duration, fileSize, newKey } from './format.js';
import { icon } from './icons.js';
import { Recording, recordingType } from './recorder.js';

const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp'];
const VIDEO_TYPES = ['video/mp4', 'video/3gpp'];

/** The kind a file is sent as. */
export function kindOf(file) {
  const type = (file.type || '').toLowerCase();
  if (IMAGE_TYPES.includes(type)) return 'image';
  if (VIDEO_TYPES.includes(type)) return 'video';
  return 'document';
}

/**
 * opts: { ctx, conversation() -> id | null, onSent(message), quoteText(message) -> string,
 *         dropZone: element that accepts dropped files }
 */
export function createComposer(opts) {
  const { ctx } = opts;
  let quoted = null;
  let recording = null;

  const textarea = h('textarea', {
    class: 'composer-input', rows: '1', placeholder: t('composer.placeholder'),
    'aria-label': t('composer.placeholder'), 'data-test': 'composer-input',
  });
  const fileInput = h('input', { type: 'file', multiple: true, hidden: true, 'data-test': 'file-input' });
  const attachBtn = h('button', { class: 'btn btn-icon', type: 'button', 'aria-label': t('composer.attach'), title: t('composer.attach'), 'data-test': 'attach', onclick: () => fileInput.click() }, icon('attach'));
  const sendBtn = h('button', { class: 'btn btn-icon btn-send', type: 'button', 'aria-label': t('composer.send'), title: t('composer.send'), 'data-test': 'send', onclick: () => sendText() }, icon('send'));
  const micBtn = h('button', { class: 'btn btn-icon', type: 'button', 'aria-label': t('composer.record'), title: t('composer.record'), 'data-test': 'record', onclick: () => startRecording() }, icon('mic'));
  if (!recordingType()) micBtn.disabled = true;
  const quoteBar = h('div', { class: 'quote-bar', hidden: true, 'data-test': 'quote-bar' });
  const uploads = h('div', { class: 'uploads', 'data-test': 'uploads', 'aria-live': 'polite' });
  const row = h('div', { class: 'composer-row' }, attachBtn, textarea, micBtn, sendBtn, fileInput);
  const recTime = h('span', { class: 'rec-time', 'data-test': 'rec-time' }, '0:00');
  const recRow = h('div', { class: 'composer-row rec-row', hidden: true, 'data-test': 'recorder' },
    h('button', { class: 'btn btn-icon', type: 'button', 'aria-label': t('rec.cancel'), title: t('rec.cancel'), 'data-test': 'rec-cancel', onclick: () => cancelRecording() }, icon('close')),
    h('span', { class: 'rec-dot', 'aria-hidden': 'true' }),
    h('span', { class: 'rec-label' }, t('rec.recording')), recTime,
    h('span', { class: 'rec-wave', 'aria-hidden': 'true' }),
    h('button', { class: 'btn btn-icon btn-send', type: 'button', 'aria-label': t('rec.send'), title: t('rec.send'), 'data-test': 'rec-send', onclick: () => stopRecording() }, icon('send')));
  const readonly = h('div', { class: 'note note-warn composer-readonly', hidden: true }, t('composer.readonly'));
  // Sends to a line that is not connected are queued by the server, not refused: say so.
  const offline = h('div', { class: 'note note-warn composer-offline', hidden: true, role: 'status', 'data-test': 'composer-offline' }, t('composer.offline'));
  const el = h('div', { class: 'composer', 'data-test': 'composer' }, quoteBar, uploads, readonly, offline, row, recRow);

  function autosize() {
    textarea.style.height = 'auto';
    textarea.style.height = Math.min(textarea.scrollHeight, 160) + 'px';
  }
  textarea.addEventListener('input', autosize);
  textarea.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      sendText();
    } else if (e.key === 'Escape' && quoted) {
      e.preventDefault();
      setQuote(null);
    }
  });
  textarea.addEventListener('paste', (e) => {
    const files = [...(e.clipboardData?.files || [])];
    if (files.length) {
      e.preventDefault();
      sendFiles(files);
    }
  });
  fileInput.addEventListener('change', () => {
    sendFiles([...fileInput.files]);
    fileInput.value = '';
  });

  // Drag and drop anywhere over the conversation.
  const zone = opts.dropZone;
  const overlay = h('div', { class: 'drop-overlay', hidden: true, 'data-test': 'drop-overlay' }, icon('attach', 'drop-icon'), h('span', {}, t('composer.drop')));
  zone.append(overlay);
  let depth = 0;
  const hasFiles = (e) => [...(e.dataTransfer?.types || [])].includes('Files');
  zone.addEventListener('dragenter', (e) => {
    if (!hasFiles(e) || opts.conversation() === null) return;
    e.preventDefault();
    depth++;
    overlay.hidden = false;
  });
  zone.addEventListener('dragover', (e) => {
    if (!hasFiles(e) || opts.conversation() === null) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  });
  zone.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) overlay.hidden = true;
  });
  zone.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    overlay.hidden = true;
    sendFiles([...e.dataTransfer.files]);
  });

  function setQuote(message) {
    quoted = message;
    if (!message) {
      quoteBar.hidden = true;
      quoteBar.replaceChildren();
      return;
    }
    quoteBar.hidden = false;
    replace(quoteBar,
      h('div', { class: 'quote quote-compose', 'data-quoted-id': message.id },
        h('div', { class: 'quote-who' }, opts.senderName(message)),
        h('div', { class: 'quote-text' }, opts.quoteText(message))),
      h('button', { class: 'btn btn-icon', type: 'button', 'aria-label': t('composer.quote.cancel'), title: t('composer.quote.cancel'), 'data-test': 'quote-cancel', onclick: () => { setQuote(null); textarea.focus(); } }, icon('close')));
    textarea.focus();
  }

  async function sendText() {
    const conv = opts.conversation();
    const text = textarea.value;
    if (conv === null || !text.trim()) return;
    const body = { text, idempotency_key: newKey() };
    if (quoted) body.quoted_id = quoted.id;
    const q = quoted;
    textarea.value = '';
    autosize();
    setQuote(null);
    try {
      const m = await api('POST', `/api/conversations/${conv}/messages`, body);
      opts.onSent(m);
    } catch (e) {
      // Give the text back so nothing typed is lost (the idempotency key makes a retry safe).
      if (!textarea.value) textarea.value = text;
      autosize();
      if (q) setQuote(q);
      ctx.toast(t('error.generic', { error: e.message }), 'error');
    }
  }

  function sendFiles(files) {
    const conv = opts.conversation();
    if (conv === null) return;
    for (const file of files) sendBlob(conv, file, kindOf(file), file.name, file.type || 'application/octet-stream');
  }

  function sendBlob(conv, blob, kind, name, type) {
    const params = new URLSearchParams({ kind, idempotency_key: newKey() });
    if (name) params.set('file_name', name);
    if (quoted && kind !== 'voice') {
      params.set('quoted_id', String(quoted.id));
      setQuote(null);
    }
    const bar = h('span', { class: 'progress-fill' });
    const pct = h('span', { class: 'upload-pct', 'data-test': 'upload-pct' }, '0%');
    const item = h('div', { class: 'upload', 'data-test': 'upload', 'data-kind': kind },
      icon(kind === 'voice' ? 'mic' : 'file', 'upload-icon'),
      h('span', { class: 'upload-name' }, name || t(`msg.${kind}`)),
      h('span', { class: 'upload-size' }, fileSize(blob.size)),
      h('span', { class: 'progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0', 'aria-label': name || kind }, bar),
      pct);
    const req = upload(`/api/conversations/${conv}/media?${params}`, blob, type, (f) => {
      const p = Math.round(f * 100);
      bar.style.width = p + '%';
      pct.textContent = p + '%';
      item.querySelector('.progress').setAttribute('aria-valuenow', String(p));
    });
    const cancel = h('button', { class: 'btn btn-icon btn-small', type: 'button', 'aria-label': t('close'), onclick: () => req.abort() }, icon('close'));
    item.append(cancel);
    uploads.append(item);
    req.then((m) => {
      item.dataset.done = '1';
      opts.onSent(m);
      setTimeout(() => item.remove(), 600);
    }, (e) => {
      if (e.code === 'aborted') {
        item.remove();
        return;
      }
      item.classList.add('upload-failed');
      item.dataset.failed = '1';
      pct.textContent = '';
      ctx.toast(t('upload.failed', { error: e.message }), 'error');
      setTimeout(() => item.remove(), 6000);
    });
  }

  async function startRecording() {
    if (recording || opts.conversation() === null) return;
    try {
      recording = await Recording.start((s) => { recTime.textContent = duration(s); });
    } catch (e) {
      recording = null;
      ctx.toast(t('rec.denied', { error: e.message || e.name }), 'error');
      return;
    }
    row.hidden = true;
    recRow.hidden = false;
    recRow.querySelector('[data-test="rec-send"]').focus();
  }

  function endRecordingUi() {
    recording = null;
    recRow.hidden = true;
    row.hidden = false;
    recTime.textContent = '0:00';
  }

  function cancelRecording() {
    if (!recording) return;
    recording.cancel();
    endRecordingUi();
    micBtn.focus();
  }

  async function stopRecording() {
    if (!recording) return;
    const conv = opts.conversation();
    const rec = recording;
    endRecordingUi();
    try {
      const { blob, type } = await rec.stop();
      if (conv !== null && blob.size > 0) sendBlob(conv, blob, 'voice', null, type);
    } catch (e) {
      ctx.toast(t('error.generic', { error: e.message }), 'error');
    }
    textarea.focus();
  }
  recRow.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      cancelRecording();
    }
  });

  return {
    el,
    setQuote,
    focus() {
      textarea.focus();
    },
    /** A new conversation: drop the quote and any recording, keep nothing typed. */
    reset() {
      setQuote(null);
      if (recording) cancelRecording();
      textarea.value = '';
      autosize();
    },
    /** The conversation's line is not connected: messages wait in the queue. */
    setOffline(off) {
      offline.hidden = !off;
    },
    setReadOnly(ro) {
      readonly.hidden = !ro;
      row.classList.toggle('disabled', ro);
      for (const c of [textarea, attachBtn, sendBtn, micBtn]) c.disabled = ro || (c === micBtn && !recordingType());
    },
  };
}
