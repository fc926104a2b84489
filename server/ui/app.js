// The entry point: reads the session the server put into the page, builds the tabs (Chats,
// Connections, Audit log), opens the live stream and hands one shared context to every view.

import { api, setToken, EventStream } from './api.js';
import { setLang, t } from './i18n.js';
import { h, replace } from './format.js';
import { createChat } from './chat.js';
import { createConnections } from './connections.js';
import { createAudit } from './audit.js';
import { createPlan } from './plan.js';
import { icon } from './icons.js';

function readSession() {
  const node = document.getElementById('wab24-session');
  if (!node) return null;
  try {
    return JSON.parse(node.textContent);
  } catch {
    return null;
  }
}

function langOf(session) {
  return session.lang || document.documentElement.lang || navigator.language || 'en';
}

/** A short message at the bottom of the page (role=status, or alert for errors). */
function makeToaster(root) {
  const box = h('div', { class: 'toasts', 'aria-live': 'polite', 'data-test': 'toasts' });
  root.append(box);
  return (text, kind = 'info') => {
    const node = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
    box.append(node);
    setTimeout(() => node.classList.add('toast-out'), 4500);
    setTimeout(() => node.remove(), 5000);
  };
}

/** The "administrators only" page a user sees instead of Connections and Audit. */
export function adminsOnly() {
  return h('div', { class: 'empty-page', 'data-test': 'admins-only', role: 'note' },
    icon('lock', 'empty-icon'),
    h('h2', {}, t('admins.only')),
    h('p', {}, t('admins.only.text')));
}

async function main() {
  const root = document.getElementById('app');
  const session = readSession();
  setLang(session ? langOf(session) : navigator.language);
  if (!session || !session.token) {
    replace(root, h('div', { class: 'empty-page' }, h('h2', {}, 'wab24'), h('p', {}, 'No session: open the app from Bitrix24.')));
    return;
  }
  setToken(session.token);
  const isAdmin = session.role === 'admin';
  document.documentElement.dataset.role = isAdmin ? 'admin' : 'user';

  const stream = new EventStream('/api/events');
  const ctx = {
    session,
    isAdmin,
    userId: session.user_id,
    stream,
    toast: null,
    subscription: null,
    users: new Map(),
    departments: new Map(),
    async loadSubscription() {
      try {
        ctx.subscription = await api('GET', '/api/subscription');
      } catch (e) {
        console.warn('subscription', e);
      }
      renderPlan();
      return ctx.subscription;
    },
    async loadUsers() {
      if (!isAdmin) return ctx.users;
      try {
        const r = await api('GET', '/api/users');
        ctx.users = new Map(r.users.map((u) => [u.id, u]));
        ctx.departments = new Map((r.departments || []).map((d) => [d.id, d]));
      } catch (e) {
        console.warn('users', e);
      }
      return ctx.users;
    },
    userName(id) {
      if (id === null || id === undefined) return '';
      const u = ctx.users.get(id);
      return u ? u.name : `#${id}`;
    },
  };

  const allTabs = [
    { id: 'chats', label: t('tab.chats'), icon: 'chat' },
    { id: 'connections', label: t('tab.connections'), icon: 'link' },
    { id: 'audit', label: t('tab.audit'), icon: 'list' },
    { id: 'plan', label: t('tab.plan'), icon: 'clock' },
  ];
  // In a CRM card's tab the panel shows the card's chats only.
  const tabs = session.crm ? allTabs.slice(0, 1) : allTabs;
  if (session.crm) document.documentElement.dataset.mode = 'crm';
  const tabButtons = new Map();
  const panels = new Map();
  const tablist = h('nav', { class: 'tabs', role: 'tablist', 'aria-label': 'wab24' });
  const plan = h('button', { class: 'plan-pill', type: 'button', 'data-test': 'plan-banner', hidden: true, onclick: () => select('plan', true) });
  const streamState = h('div', { class: 'stream-state', role: 'status', 'data-test': 'stream-state' });
  const main = h('main', { class: 'views' });
  const shell = h('div', { class: 'shell' },
    h('header', { class: 'topbar' },
      h('div', { class: 'brand' }, icon('whatsapp', 'brand-icon'), h('span', {}, 'WhatsApp')),
      tablist, h('div', { class: 'topbar-space' }), plan, streamState),
    main);
  replace(root, shell);
  ctx.toast = makeToaster(root);

  function renderPlan() {
    const s = ctx.subscription;
    if (!s) return;
    plan.hidden = false;
    plan.classList.toggle('plan-warn', s.read_only || (s.trial_days_left !== null && s.trial_days_left <= 3));
    if (s.read_only) replace(plan, t('plan.trial.ended'));
    else if (s.trial_days_left !== null && s.trial_days_left !== undefined) replace(plan, t('plan.trial', { plan: s.plan, days: s.trial_days_left }));
    else replace(plan, t('plan.paid', { plan: s.plan }));
    for (const v of views.values()) if (v.onPlan) v.onPlan(s);
  }

  const views = new Map();
  views.set('chats', createChat(ctx));
  views.set('connections', isAdmin ? createConnections(ctx) : { el: adminsOnly() });
  views.set('audit', isAdmin ? createAudit(ctx) : { el: adminsOnly() });
  views.set('plan', createPlan(ctx, isAdmin));

  for (const tab of tabs) {
    const btn = h('button', {
      class: 'tab', role: 'tab', id: `tab-${tab.id}`, 'aria-controls': `panel-${tab.id}`,
      'aria-selected': 'false', tabindex: '-1', 'data-test': `tab-${tab.id}`,
      onclick: () => select(tab.id, true),
    }, icon(tab.icon, 'tab-icon'), h('span', {}, tab.label),
    !isAdmin && tab.id !== 'chats' && tab.id !== 'plan' ? icon('lock', 'tab-lock') : null);
    tabButtons.set(tab.id, btn);
    tablist.append(btn);
    const panel = h('section', { class: 'panel', role: 'tabpanel', id: `panel-${tab.id}`, 'aria-labelledby': `tab-${tab.id}`, hidden: true, 'data-test': `panel-${tab.id}` },
      views.get(tab.id).el);
    panels.set(tab.id, panel);
    main.append(panel);
  }
  tablist.addEventListener('keydown', (e) => {
    const ids = tabs.map((x) => x.id);
    const i = ids.indexOf(current);
    let next = null;
    if (e.key === 'ArrowRight') next = ids[(i + 1) % ids.length];
    else if (e.key === 'ArrowLeft') next = ids[(i + ids.length - 1) % ids.length];
    else if (e.key === 'Home') next = ids[0];
    else if (e.key === 'End') next = ids[ids.length - 1];
    if (next) {
      e.preventDefault();
      select(next, true);
      tabButtons.get(next).focus();
    }
  });

  let current = null;
  function select(id, user) {
    if (!panels.has(id)) id = 'chats';
    if (current === id) return;
    if (current) {
      tabButtons.get(current).setAttribute('aria-selected', 'false');
      tabButtons.get(current).tabIndex = -1;
      panels.get(current).hidden = true;
      const old = views.get(current);
      if (old.hide) old.hide();
    }
    current = id;
    tabButtons.get(id).setAttribute('aria-selected', 'true');
    tabButtons.get(id).tabIndex = 0;
    panels.get(id).hidden = false;
    const v = views.get(id);
    if (v.show) v.show();
    if (user && location.hash !== '#' + id) history.replaceState(null, '', '#' + id);
  }
  window.addEventListener('hashchange', () => select(location.hash.slice(1)));

  stream.onState((s) => {
    streamState.dataset.state = s;
    replace(streamState, h('span', { class: 'dot' }), t(`stream.${s}`));
  });
  stream.on('subscription.changed', () => ctx.loadSubscription());
  // A write refused because the trial ended: the toast says to open the plan page; the pill
  // (a button to it) turns to "trial ended".
  window.addEventListener('wab24:trial_expired', () => ctx.loadSubscription());
  stream.on('line.created', () => ctx.loadSubscription());
  stream.on('line.deleted', () => ctx.loadSubscription());
  stream.on('resync', () => ctx.loadSubscription());
  // The session may not go on (deactivated in the portal, left out of the access list, ended by
  // an administrator): stop, and say so instead of retrying.
  stream.on('session.ended', (p) => {
    stream.stop();
    replace(root, h('div', { class: 'empty-page', 'data-test': 'session-ended', role: 'alert' },
      icon('lock', 'empty-icon'),
      h('h2', {}, t('session.ended')),
      h('p', {}, (p && p.reason) || ''),
      h('p', {}, t('session.ended.text'))));
  });

  await Promise.all([ctx.loadSubscription(), ctx.loadUsers()]);
  // A link that names a conversation (the CRM timeline's) opens the chats on it.
  select(session.conversation_id ? 'chats' : (location.hash.slice(1) || 'chats'));
  stream.start();
  // For tests and debugging: the live stream (e.g. window.wab24.stream.drop()).
  window.wab24 = { stream, ctx };
}

main().catch((e) => {
  console.error(e);
  const root = document.getElementById('app');
  if (root) replace(root, h('div', { class: 'empty-page', role: 'alert' }, h('h2', {}, 'wab24'), h('p', {}, String(e.message || e))));
});
