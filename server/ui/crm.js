// A line's CRM policy (administrators), in the line's card: what a new customer's first message
// creates in Bitrix24's CRM (nothing, a contact, a contact and a lead, or a contact and a deal in
// a pipeline and stage), who is responsible, what a returning customer with closed deals gets,
// and who creates (wab24, or the Open Line's own CRM settings). Read with
// GET /api/lines/{id}/crm, the pipelines with GET /api/crm/pipelines, saved whole with
// PATCH /api/lines/{id} {crm}.

import { api } from './api.js';
import { t } from './i18n.js';
import { h } from './format.js';

const MODES = ['none', 'contact', 'contact_lead', 'contact_deal'];
const RESPONSIBLE = ['line_user', 'client_responsible'];
const RETURNING = ['new_deal', 'nothing'];
const SOURCES = ['wab24', 'open_line'];

/** Each line's policy as last read or saved (cards are drawn again often). */
const policies = new Map();
let pipelines = null;

function loadPipelines() {
  if (!pipelines) {
    pipelines = api('GET', '/api/crm/pipelines').then((r) => r.pipelines || []);
    pipelines.catch(() => { pipelines = null; });
  }
  return pipelines;
}

function choice(id, test, values, current, label) {
  const select = h('select', { class: 'select', id, 'data-test': test },
    values.map(([v, text]) => h('option', { value: String(v) }, text)));
  select.value = String(current);
  return [select, h('label', { class: 'field', for: id }, h('span', { class: 'field-label' }, label), select)];
}

/** The CRM block of a line's card (`ctx.toast` reports saving). */
export function crmPolicy(line, ctx) {
  const box = h('div', { class: 'line-crm', 'data-test': 'crm-settings' },
    h('div', { class: 'line-openline-head' }, h('span', { class: 'field-label' }, t('crm.title'))));
  const draw = (policy, list, error) => {
    const id = (k) => `crm-${k}-${line.id}`;
    const [mode, modeField] = choice(id('mode'), 'crm-mode', MODES.map((m) => [m, t(`crm.mode.${m}`)]), policy.mode, t('crm.mode'));
    const pipelineList = list.length ? list : [{ id: policy.category_id, name: `#${policy.category_id}`, stages: [] }];
    const [pipeline, pipelineField] = choice(id('pipeline'), 'crm-pipeline', pipelineList.map((p) => [p.id, p.name]), policy.category_id, t('crm.pipeline'));
    const stagesOf = (cat) => (list.find((p) => String(p.id) === String(cat)) || { stages: [] }).stages
      .filter((s) => s.semantics === 'process');
    const stageValues = [['', t('crm.stage.first')], ...stagesOf(policy.category_id).map((s) => [s.id, s.name])];
    const [stage, stageField] = choice(id('stage'), 'crm-stage', stageValues, policy.stage_id || '', t('crm.stage'));
    const [responsible, responsibleField] = choice(id('responsible'), 'crm-responsible', RESPONSIBLE.map((r) => [r, t(`crm.responsible.${r}`)]), policy.responsible, t('crm.responsible'));
    const [returning, returningField] = choice(id('returning'), 'crm-returning', RETURNING.map((r) => [r, t(`crm.returning.${r}`)]), policy.returning_closed_deal, t('crm.returning'));
    const [source, sourceField] = choice(id('source'), 'crm-source', SOURCES.map((s) => [s, t(`crm.source.${s}`)]), policy.source_of_truth, t('crm.source'));
    const deal = mode.value === 'contact_deal';
    pipelineField.hidden = !deal;
    stageField.hidden = !deal;
    const save = async (changed) => {
      const next = {
        mode: mode.value,
        category_id: Number(pipeline.value) || 0,
        // Another pipeline: its first stage until one is chosen.
        stage_id: changed === pipeline ? null : stage.value || null,
        responsible: responsible.value,
        returning_closed_deal: returning.value,
        source_of_truth: source.value,
      };
      try {
        await api('PATCH', `/api/lines/${line.id}`, { crm: next });
        policies.set(line.id, next);
        ctx.toast(t('crm.saved', { name: line.name }));
      } catch (e) {
        ctx.toast(e.message, 'error');
      }
      draw(policies.get(line.id) || policy, list, error);
    };
    for (const s of [mode, pipeline, stage, responsible, returning, source]) s.addEventListener('change', () => save(s));
    // replaceChildren would print a null as the text "null": only the nodes there are.
    box.replaceChildren(...[
      h('div', { class: 'line-openline-head' }, h('span', { class: 'field-label' }, t('crm.title'))),
      h('div', { class: 'line-controls' }, modeField, pipelineField, stageField, responsibleField, returningField, sourceField),
      error ? h('p', { class: 'note note-error', 'data-test': 'crm-pipelines-error', role: 'alert' }, t('crm.pipelines.failed', { error })) : null,
    ].filter(Boolean));
  };
  (async () => {
    try {
      const policy = policies.get(line.id) || await api('GET', `/api/lines/${line.id}/crm`);
      policies.set(line.id, policy);
      let list = [];
      let error = null;
      if (policy.mode === 'contact_deal' || pipelines) {
        try { list = await loadPipelines(); } catch (e) { error = e.message; }
      } else {
        loadPipelines().catch(() => {});
      }
      draw(policy, list, error);
    } catch (e) {
      box.append(h('p', { class: 'note note-error', role: 'alert' }, e.message));
    }
  })();
  return box;
}
