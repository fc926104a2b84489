-- Version 6: CRM routing. Each line's CRM policy (what the first message of an unknown number
-- creates in Bitrix24's CRM, who is responsible, who creates: we or the Open Line), and the CRM
-- items each conversation made or found. The calls themselves go through b24_outbox (kinds
-- 'crm_route' and 'crm_timeline').

-- A line's CRM policy; a line without a row creates nothing.
CREATE TABLE line_crm_policies (
    line_id               BIGINT PRIMARY KEY REFERENCES lines (id),
    -- 'none', 'contact', 'contact_lead' or 'contact_deal'.
    mode                  TEXT    NOT NULL,
    -- The deal pipeline (categoryId; 0 is the default one) and stage (NULL: its first).
    category_id           BIGINT NOT NULL,
    stage_id              TEXT,
    -- 'line_user' or 'client_responsible'.
    responsible           TEXT    NOT NULL,
    -- 'new_deal' or 'nothing'.
    returning_closed_deal TEXT    NOT NULL,
    -- 'wab24' or 'open_line'.
    source_of_truth       TEXT    NOT NULL,
    updated_at            BIGINT NOT NULL
);

-- A conversation and the Bitrix24 CRM items it made or found (ids in the portal's CRM).
CREATE TABLE crm_links (
    conversation_id BIGINT PRIMARY KEY REFERENCES conversations (id),
    line_id         BIGINT NOT NULL REFERENCES lines (id),
    contact_id      BIGINT,
    lead_id         BIGINT,
    deal_id         BIGINT,
    -- 1 once everything the policy asked for is linked.
    complete        BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX crm_links_contact ON crm_links (contact_id);
