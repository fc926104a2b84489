//! The route table: every route the server answers, once. The warp routes
//! ([`super::router`]), the permission checks in front of each handler and the OpenAPI document
//! ([`super::openapi`]) are all derived from [`ROUTES`], so they cannot drift apart.

use warp::Filter;

use super::{
    access, audit, bitrix, chats, connection, connector_page, conversations, crm, crm_tab,
    filters::{bearer, form, form_bytes, json},
    lines, media, media_links, messages, meta, open_lines,
    route::{Access, Doc, Handler, Method, Route},
    shared::respond,
    sms_provider, sse, subscription, ui, users,
};

/// Every route the server answers, in the order of the OpenAPI document.
pub static ROUTES: &[Route] = &[
    Route {
        method: Method::Get,
        path: "/healthz",
        access: Access::Public,
        writable: false,
        token_in_query: false,
        doc: Doc { summary: "Liveness probe", body: None, ok: ("200", "text"), errors: &[] },
        handler: Handler::Open(|g| g.map(|_| meta::healthz()).boxed()),
    },
    Route {
        method: Method::Get,
        path: "/metrics",
        access: Access::Public,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "Prometheus metrics: lines by status, messages in/out, SSE clients, Bitrix24 call errors. Asks for the configured metrics_token as a bearer token (401 without, 403 wrong); 404 when none is configured (metrics_listen serves it without a token on an address of its own)",
            body: None,
            ok: ("200", "text"),
            errors: &["401", "403", "404"],
        },
        handler: Handler::Open(|g| g.and(bearer()).then(meta::metrics_with_token).boxed()),
    },
    Route {
        method: Method::Get,
        path: "/api/openapi.json",
        access: Access::Public,
        writable: false,
        token_in_query: false,
        doc: Doc { summary: "This document", body: None, ok: ("200", "json"), errors: &[] },
        handler: Handler::Document,
    },
    Route {
        method: Method::Get,
        path: "/ui/{file}",
        access: Access::Public,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "A file of the chat panel (ES modules, CSS, icons) embedded in the binary, with an ETag",
            body: None,
            ok: ("200", "binary"),
            errors: &["404"],
        },
        handler: Handler::File(|g| {
            g.and(warp::header::optional("if-none-match")).then(ui::file).boxed()
        }),
    },
    Route {
        method: Method::Post,
        path: "/b24/install",
        access: Access::Bitrix,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "Install frame (an administrator's first open) or ONAPPINSTALL callback: registers the tenant, binds ONAPPUNINSTALL; the page calls BX24.installFinish()",
            body: Some("form"),
            ok: ("200", "html"),
            errors: &["400", "502"],
        },
        handler: Handler::Open(|g| g.and(form()).then(bitrix::install).boxed()),
    },
    Route {
        method: Method::Post,
        path: "/b24/app",
        access: Access::Bitrix,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "App frame: AUTH_ID confirmed by the portal, a 72 h session token issued into the page (CSP frame-ancestors: the portal)",
            body: Some("form"),
            ok: ("200", "html"),
            errors: &["400", "502"],
        },
        handler: Handler::Open(|g| g.and(form()).then(bitrix::app_frame).boxed()),
    },
    Route {
        method: Method::Post,
        path: "/b24/connector",
        access: Access::Bitrix,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "The Open Lines connector's settings page (PLACEMENT=SETTING_CONNECTOR, the PLACEMENT_HANDLER given to imconnector.register): AUTH_ID confirmed by the portal as for the app frame, then which WhatsApp line feeds the Open Line named by PLACEMENT_OPTIONS.LINE, and for administrators the choice of line (the page calls PATCH /api/lines/{line_id}); in the portal's language",
            body: Some("form"),
            ok: ("200", "html"),
            errors: &["400", "502"],
        },
        handler: Handler::Open(|g| g.and(form()).then(connector_page::page).boxed()),
    },
    Route {
        method: Method::Post,
        path: "/b24/crm-tab",
        access: Access::Bitrix,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "The WhatsApp tab of a CRM card (PLACEMENT CRM_CONTACT_DETAIL_TAB, CRM_COMPANY_DETAIL_TAB, CRM_LEAD_DETAIL_TAB or CRM_DEAL_DETAIL_TAB, bound at install and at start; PLACEMENT_OPTIONS.ID the item): AUTH_ID confirmed by the portal as for the app frame, the item's phone numbers read with crm.item.get (a deal's from its contacts and company), then the chat panel in client mode with a session token: the conversations with those numbers on the viewer's lines (GET /api/conversations/by-phone), the composer, and a new chat to one of the numbers. 404 when the portal has no such item",
            body: Some("form"),
            ok: ("200", "html"),
            errors: &["400", "404", "502"],
        },
        handler: Handler::Open(|g| g.and(form()).then(crm_tab::page).boxed()),
    },
    Route {
        method: Method::Post,
        path: "/b24/events",
        access: Access::Bitrix,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "Bitrix24 events; auth[application_token] must match (401 without, 403 wrong). ONAPPUNINSTALL is acted on only once the portal confirms it (the stored tokens fail, or app.info says not installed; 403/503 otherwise, nothing changed); with CLEAN every line is logged out of WhatsApp and the data soft-deleted, purged after the grace period unless reinstalled. Open Channels connector events (ONIMCONNECTORMESSAGEADD/UPDATE/DELETE, STATUSDELETE, LINEDELETE) are audited and queued, and acted on only once the portal confirms them under the installation's tokens (the message in the customer's chat, imconnector.status, imopenlines.config.get)",
            body: Some("form"),
            ok: ("200", "json"),
            errors: &["400", "503"],
        },
        handler: Handler::Open(|g| g.and(form_bytes()).then(bitrix::events).boxed()),
    },
    Route {
        method: Method::Post,
        path: "/b24/messageservice/{token}",
        access: Access::Bitrix,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "The handler of wab24's message providers (messageservice.sender.add, one per line, CODE wab24_line_<id>): Bitrix24 POSTs the CRM's or a robot's message (code, message_id, message_to, message_body, auth). Admitted on the token we signed into the HANDLER URL (portal and line, HMAC-SHA256 under a key derived from the master key; 403 when it is not ours or altered, or the body names another portal or provider), never on the application_token alone. The text goes to message_to through the line as writing first does (number check with WhatsApp, anti-ban guard): status queued with our message id, or failed with the reason; the same message_id again sends nothing. Statuses (sent, delivered, failed) go back with messageservice.message.status.update through the Bitrix24 outbox; audited",
            body: Some("form"),
            ok: ("200", "json"),
            errors: &["400", "403", "404"],
        },
        handler: Handler::Param(|g| {
            g.and_then(sms_provider::admit)
                .and(form_bytes())
                .then(|admitted, body| respond(sms_provider::receive(admitted, body)))
                .boxed()
        }),
    },
    Route {
        method: Method::Get,
        path: "/api/me",
        access: Access::Member,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "Who the token stands for",
            body: None,
            ok: ("200", "Me"),
            errors: &[],
        },
        handler: Handler::Scoped(|g| g.then(|st, s| respond(users::me(st, s))).boxed()),
    },
    Route {
        method: Method::Get,
        path: "/api/lines",
        access: Access::Member,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "Lines: every line for administrators, the assigned ones for users",
            body: None,
            ok: ("200", "LineList"),
            errors: &[],
        },
        handler: Handler::Scoped(|g| g.then(|st, s| respond(lines::list(st, s))).boxed()),
    },
    Route {
        method: Method::Post,
        path: "/api/lines",
        access: Access::Admin,
        writable: true,
        token_in_query: false,
        doc: Doc {
            summary: "Create a line within the plan's quota (409 names current and maximum)",
            body: Some("CreateLine"),
            ok: ("201", "Line"),
            errors: &["400", "409"],
        },
        handler: Handler::Scoped(|g| {
            g.and(json()).then(|st, s, body| respond(lines::create(st, s, body))).boxed()
        }),
    },
    Route {
        method: Method::Get,
        path: "/api/lines/{line_id}",
        access: Access::Member,
        writable: false,
        token_in_query: false,
        doc: Doc { summary: "One line", body: None, ok: ("200", "Line"), errors: &["404"] },
        handler: Handler::ScopedId(|g| g.then(|id, st, s| respond(lines::get(st, s, id))).boxed()),
    },
    Route {
        method: Method::Patch,
        path: "/api/lines/{line_id}",
        access: Access::Admin,
        writable: true,
        token_in_query: false,
        doc: Doc {
            summary: "Change a line's settings: send_read_receipts (whether the assigned user opening a chat sends read receipts to WhatsApp; on by default); open_channel (where conversations go: panel, openline or both) and open_line_id (the Bitrix24 Open Line they go to; null clears it; one line per Open Line); open_channel_signature (whether an operator's name signature reaches the customer with their Open Line messages; on by default); crm (the line's CRM policy, whole: mode none|contact|contact_lead|contact_deal, category_id and stage_id for deals, responsible line_user|client_responsible, returning_closed_deal new_deal|nothing, source_of_truth wab24|open_line): a change of where conversations go is queued for Bitrix24 (connector activation, data, status) and shown as open_channel_status. Audited; SSE line.updated",
            body: Some("UpdateLine"),
            ok: ("200", "Line"),
            errors: &["400", "404"],
        },
        handler: Handler::ScopedId(|g| {
            g.and(json()).then(|id, st, s, body| respond(lines::update(st, s, id, body))).boxed()
        }),
    },
    Route {
        method: Method::Delete,
        path: "/api/lines/{line_id}",
        access: Access::Admin,
        writable: true,
        token_in_query: false,
        doc: Doc {
            summary: "Delete a line (history kept; stops counting against the quota)",
            body: None,
            ok: ("204", ""),
            errors: &["404"],
        },
        handler: Handler::ScopedId(|g| {
            g.then(|id, st, s| respond(lines::delete(st, s, id))).boxed()
        }),
    },
    Route {
        method: Method::Get,
        path: "/api/lines/{line_id}/crm",
        access: Access::Admin,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "The line's CRM policy: what the first message of an unknown number creates in Bitrix24's CRM (mode none, contact, contact_lead or contact_deal with category_id and stage_id), who is responsible (line_user or client_responsible), what a returning customer whose deals are closed gets (new_deal or nothing), and who creates (wab24, or open_line: the Open Line's own CRM settings, we create nothing). Set with PATCH /api/lines/{line_id} crm",
            body: None,
            ok: ("200", "CrmPolicy"),
            errors: &["404"],
        },
        handler: Handler::ScopedId(|g| g.then(|id, st, s| respond(crm::policy(st, s, id))).boxed()),
    },
    Route {
        method: Method::Put,
        path: "/api/lines/{line_id}/assignment",
        access: Access::Admin,
        writable: true,
        token_in_query: false,
        doc: Doc {
            summary: "Assign, reassign (history moves with the line) or unassign (user_id null)",
            body: Some("Assign"),
            ok: ("200", "Line"),
            errors: &["400", "404"],
        },
        handler: Handler::ScopedId(|g| {
            g.and(json()).then(|id, st, s, body| respond(lines::assign(st, s, id, body))).boxed()
        }),
    },
    Route {
        method: Method::Post,
        path: "/api/lines/{line_id}/connect",
        access: Access::Admin,
        writable: true,
        token_in_query: false,
        doc: Doc {
            summary: "Start the line: a new line pairs (SSE line.status events with state qr carry qr, qr_svg and expires_in_ms, to administrators), a paired one logs in; a running line is left as it is. Answers the current state",
            body: None,
            ok: ("202", "LineState"),
            errors: &["404", "503"],
        },
        handler: Handler::ScopedId(|g| {
            g.then(|id, st, s| respond(connection::connect(st, s, id))).boxed()
        }),
    },
    Route {
        method: Method::Post,
        path: "/api/lines/{line_id}/disconnect",
        access: Access::Admin,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "Stop the line; it stays stopped across restarts until the next connect",
            body: None,
            ok: ("204", ""),
            errors: &["404", "409", "503"],
        },
        handler: Handler::ScopedId(|g| {
            g.then(|id, st, s| respond(connection::disconnect(st, s, id))).boxed()
        }),
    },
    Route {
        method: Method::Post,
        path: "/api/lines/{line_id}/logout",
        access: Access::Admin,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "Log the line out of WhatsApp (the device is removed; pairing again is needed)",
            body: None,
            ok: ("204", ""),
            errors: &["404", "409", "503"],
        },
        handler: Handler::ScopedId(|g| {
            g.then(|id, st, s| respond(connection::logout(st, s, id))).boxed()
        }),
    },
    Route {
        method: Method::Get,
        path: "/api/lines/{line_id}/conversations",
        access: Access::Member,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "A line's conversations with unread counts, most recent first",
            body: None,
            ok: ("200", "ConversationList"),
            errors: &["404"],
        },
        handler: Handler::ScopedId(|g| {
            g.then(|id, st, s| respond(conversations::of_line(st, s, id))).boxed()
        }),
    },
    Route {
        method: Method::Post,
        path: "/api/lines/{line_id}/chats",
        access: Access::Member,
        writable: true,
        token_in_query: false,
        doc: Doc {
            summary: "Writing first: the line's conversation with phone (international, as typed: +7 (916) 000-00-01), for the line's assigned user and administrators (404 for who cannot see the line, 403 for who sees it otherwise, as a member of its department). The existing conversation with the number, or a new one once WhatsApp's usync contact query says the number is registered: 422 not_on_whatsapp when it is not, 409 when the line is not connected, 503 when WhatsApp does not answer, 429 number_checks_limit (limit, retry_at, retry_after_secs, Retry-After) when the line asked WhatsApp about number_checks_per_hour numbers in the last hour. Answers conversation, created, and outreach: cold (the number never wrote: its messages count against the line's anti-ban limits, so warn before the first send), sent_last_hour, sent_last_day, per_hour, per_day, min_gap_secs and next_at (Unix ms when a message may go, null for now)",
            body: Some("StartChat"),
            ok: ("200", "ChatOpened"),
            errors: &["400", "404", "409", "422", "429", "503"],
        },
        handler: Handler::ScopedId(|g| {
            g.and(json()).then(|id, st, s, body| respond(chats::start(st, s, id, body))).boxed()
        }),
    },
    Route {
        method: Method::Get,
        path: "/api/conversations/search",
        access: Access::Member,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "Search the caller's lines (query q, limit): contacts by name, JID or phone (digits, or as displayed: +7 916 000-00-01) with their conversations, then messages by text (message, newest first)",
            body: None,
            ok: ("200", "SearchResults"),
            errors: &["400"],
        },
        handler: Handler::Scoped(|g| {
            g.and(warp::query()).then(|st, s, q| respond(conversations::search(st, s, q))).boxed()
        }),
    },
    Route {
        method: Method::Get,
        path: "/api/conversations/by-phone",
        access: Access::Member,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "The conversations with any of these phone numbers (query phones: comma-separated, as written in a CRM card, at most 20; compared by their digits, a leading trunk 8 of an 11-digit number as 7) on every line the caller may see (administrators all, users their lines), most recent first, each with its newest message; 400 without a usable number",
            body: None,
            ok: ("200", "ConversationList"),
            errors: &["400"],
        },
        handler: Handler::Scoped(|g| {
            g.and(warp::query())
                .then(|st, s, q| respond(conversations::by_phones(st, s, q)))
                .boxed()
        }),
    },
    Route {
        method: Method::Get,
        path: "/api/conversations/{conversation_id}",
        access: Access::Member,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "One conversation",
            body: None,
            ok: ("200", "Conversation"),
            errors: &["404"],
        },
        handler: Handler::ScopedId(|g| {
            g.then(|id, st, s| respond(conversations::get(st, s, id))).boxed()
        }),
    },
    Route {
        method: Method::Get,
        path: "/api/conversations/{conversation_id}/messages",
        access: Access::Member,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "History page, newest first (query before, limit 1..200)",
            body: None,
            ok: ("200", "HistoryPage"),
            errors: &["400", "404"],
        },
        handler: Handler::ScopedId(|g| {
            g.and(warp::query())
                .then(|id, st, s, q| respond(messages::history(st, s, id, q)))
                .boxed()
        }),
    },
    Route {
        method: Method::Post,
        path: "/api/conversations/{conversation_id}/messages",
        access: Access::Member,
        writable: true,
        token_in_query: false,
        doc: Doc {
            summary: "Send a text, or a reply with quoted_id; once per idempotency_key (the same key with another body is 422); queued (202) even while the line is not connected, sent when it is; the status moves sent, delivered, read over SSE (message.status). To a customer who never wrote to the line (cold outreach) the anti-ban guard applies: over the line's limits per hour or per day, or sooner than the minimum gap after the last first message to another new number, 429 cold_outreach_limit with limit, retry_at (Unix ms), retry_after_secs and a Retry-After header",
            body: Some("SendText"),
            ok: ("202", "Message"),
            errors: &["400", "404", "422", "429", "503"],
        },
        handler: Handler::ScopedId(|g| {
            g.and(json())
                .then(|id, st, s, body| respond(messages::send_text(st, s, id, body)))
                .boxed()
        }),
    },
    Route {
        method: Method::Post,
        path: "/api/conversations/{conversation_id}/reactions",
        access: Access::Member,
        writable: true,
        token_in_query: false,
        doc: Doc {
            summary: "React to a message with an emoji (empty takes it back); the anti-ban guard of cold outreach applies as for texts (429 cold_outreach_limit)",
            body: Some("SendReaction"),
            ok: ("202", "Message"),
            errors: &["400", "404", "422", "429", "503"],
        },
        handler: Handler::ScopedId(|g| {
            g.and(json())
                .then(|id, st, s, body| respond(messages::send_reaction(st, s, id, body)))
                .boxed()
        }),
    },
    Route {
        method: Method::Post,
        path: "/api/conversations/{conversation_id}/media",
        access: Access::Member,
        writable: true,
        token_in_query: false,
        doc: Doc {
            summary: "Send a file: the body is the file, Content-Type its type; query kind=image|video|document|voice, file_name, caption, quoted_id, idempotency_key. Images jpeg/png/webp up to 16 MiB, videos mp4/3gpp up to 64 MiB, documents any type up to 64 MiB, voice notes audio/webm (a browser recording, remuxed to Ogg Opus) or audio/ogg up to 16 MiB. Authenticated and checked against the conversation before the body is read, then streamed to disk; an image or video must begin as its declared type (415); 413 also when the portal's storage quota is reached (with current and max bytes); 429 when the portal has its maximum of uploads under way (too_many_uploads) or the anti-ban guard of cold outreach refuses it as for texts (cold_outreach_limit), 503 when the server has",
            body: Some("binary"),
            ok: ("202", "Message"),
            errors: &["400", "404", "413", "415", "422", "429", "503"],
        },
        handler: Handler::ScopedId(|g| {
            g.and(warp::query())
                .and(warp::header::headers_cloned())
                .and(warp::body::stream())
                .then(|id, st, s, q, headers, body| {
                    respond(media::upload(st, s, id, q, headers, body))
                })
                .boxed()
        }),
    },
    Route {
        method: Method::Get,
        path: "/api/messages/{message_id}/media",
        access: Access::Member,
        writable: false,
        token_in_query: true,
        doc: Doc {
            summary: "A message's file (the token may also be given as ?access_token=); images, video and audio inline, anything else as an attachment",
            body: None,
            ok: ("200", "binary"),
            errors: &["404", "503"],
        },
        handler: Handler::ScopedId(|g| {
            g.then(|id, st, s| respond(media::download(st, s, id))).boxed()
        }),
    },
    Route {
        method: Method::Get,
        path: "/media/signed/{token}",
        access: Access::Public,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "A message's file by a signed, expiring link (no session: the token names the portal, the message and the expiry, HMAC-SHA256 under a key derived from the master key; media_link_ttl_hours, 24 by default), for Bitrix24 Open Channels to download the files of customers' messages. 403 for a token that is not ours or was altered, 410 once expired, 404 when the message or its file is not there",
            body: None,
            ok: ("200", "binary"),
            errors: &["403", "404", "410", "503"],
        },
        handler: Handler::Param(|g| {
            g.then(|token, st| respond(media_links::download(token, st))).boxed()
        }),
    },
    Route {
        method: Method::Post,
        path: "/api/conversations/{conversation_id}/read",
        access: Access::Member,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "The caller opened the conversation: when its unread count is theirs (the line's assigned user; administrators while nobody is assigned) it goes to zero and WhatsApp gets read receipts unless the line's send_read_receipts is off; anyone else changes nothing (cleared false). Allowed when read-only",
            body: None,
            ok: ("200", "json"),
            errors: &["404"],
        },
        handler: Handler::ScopedId(|g| {
            g.then(|id, st, s| respond(conversations::mark_read(st, s, id))).boxed()
        }),
    },
    Route {
        method: Method::Get,
        path: "/api/open-lines",
        access: Access::Admin,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "The portal's Open Lines (imopenlines.config.list.get): id, name, active, and line_id, our line that sends its conversations there. 502 portal_refused with Bitrix24's reason (a missing imopenlines permission says so), 503 when Bitrix24 is busy or unreachable",
            body: None,
            ok: ("200", "OpenLineList"),
            errors: &["502", "503"],
        },
        handler: Handler::Scoped(|g| g.then(|st, s| respond(open_lines::list(st, s))).boxed()),
    },
    Route {
        method: Method::Post,
        path: "/api/open-lines",
        access: Access::Admin,
        writable: true,
        token_in_query: false,
        doc: Doc {
            summary: "Create an Open Line in Bitrix24 (imopenlines.config.add) named name; with line_id, that line's assigned user is its operator queue. Answers the new Open Line; then PATCH /api/lines/{line_id} sends the line's conversations there. 502 portal_refused with Bitrix24's reason, 503 when it is busy or unreachable",
            body: Some("CreateOpenLine"),
            ok: ("201", "OpenLine"),
            errors: &["400", "404", "502", "503"],
        },
        handler: Handler::Scoped(|g| {
            g.and(json()).then(|st, s, body| respond(open_lines::create(st, s, body))).boxed()
        }),
    },
    Route {
        method: Method::Get,
        path: "/api/crm/pipelines",
        access: Access::Admin,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "The portal's deal pipelines (crm.category.list; id 0 is the default one) with their stages in order (crm.status.list DEAL_STAGE / DEAL_STAGE_<id>; semantics process, success or failure), for a line's CRM policy form. 502 portal_refused with Bitrix24's reason, 503 when it is busy or unreachable",
            body: None,
            ok: ("200", "PipelineList"),
            errors: &["502", "503"],
        },
        handler: Handler::Scoped(|g| g.then(|st, s| respond(crm::pipelines(st, s))).boxed()),
    },
    Route {
        method: Method::Get,
        path: "/api/users",
        access: Access::Admin,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "Portal users and departments (user.get, department.get, cached; source portal or cache): name, active, avatar, departments; users the portal no longer lists or says are inactive lose their sessions",
            body: None,
            ok: ("200", "UserList"),
            errors: &[],
        },
        handler: Handler::Scoped(|g| g.then(|st, s| respond(users::list(st, s))).boxed()),
    },
    Route {
        method: Method::Get,
        path: "/api/access",
        access: Access::Admin,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "Who may use the app: users and departments (with those below them); both empty: everyone; administrators always",
            body: None,
            ok: ("200", "Access"),
            errors: &[],
        },
        handler: Handler::Scoped(|g| g.then(|st, s| respond(access::get(st, s))).boxed()),
    },
    Route {
        method: Method::Put,
        path: "/api/access",
        access: Access::Admin,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "Set who may use the app (users and departments known from /api/users, at most 1000 of each; audited app.access_changed); a user left out is refused from their next request on",
            body: Some("Access"),
            ok: ("200", "Access"),
            errors: &["400", "404"],
        },
        handler: Handler::Scoped(|g| {
            g.and(json()).then(|st, s, body| respond(access::put(st, s, body))).boxed()
        }),
    },
    Route {
        method: Method::Post,
        path: "/api/users/{user_id}/sessions/revoke",
        access: Access::Admin,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "End every session of a user: tokens issued until now are refused (audited auth.sessions_revoked); answers user_id and not_before (Unix seconds)",
            body: None,
            ok: ("200", "SessionsRevoked"),
            errors: &["404"],
        },
        handler: Handler::ScopedId(|g| {
            g.then(|id, st, s| respond(users::revoke_sessions(st, s, id))).boxed()
        }),
    },
    Route {
        method: Method::Get,
        path: "/api/audit",
        access: Access::Admin,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "Audit log page (query kind, subject, actor (system, admin:N, user:N), since, until in Unix ms, after, limit 1..1000)",
            body: None,
            ok: ("200", "AuditPage"),
            errors: &["400"],
        },
        handler: Handler::Scoped(|g| {
            g.and(warp::query()).then(|st, s, q| respond(audit::page(st, s, q))).boxed()
        }),
    },
    Route {
        method: Method::Get,
        path: "/api/audit/export",
        access: Access::Admin,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "Audit log as NDJSON (same filters)",
            body: None,
            ok: ("200", "ndjson"),
            errors: &["400"],
        },
        handler: Handler::Scoped(|g| {
            g.and(warp::query()).then(|st, s, q| respond(audit::export(st, s, q))).boxed()
        }),
    },
    Route {
        method: Method::Get,
        path: "/api/audit/verify",
        access: Access::Admin,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "Verify the tenant's keyed audit chain now: ok, records checked, the first broken record (seq, reason code, message)",
            body: None,
            ok: ("200", "AuditVerify"),
            errors: &[],
        },
        handler: Handler::Scoped(|g| g.then(|st, s| respond(audit::verify(st, s))).boxed()),
    },
    Route {
        method: Method::Get,
        path: "/api/subscription",
        access: Access::Member,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "Plan, lines used of allowed, trial days left, read-only flag",
            body: None,
            ok: ("200", "Subscription"),
            errors: &[],
        },
        handler: Handler::Scoped(|g| g.then(|st, s| respond(subscription::get(st, s))).boxed()),
    },
    Route {
        method: Method::Post,
        path: "/api/subscription/upgrade",
        access: Access::Admin,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "Ask the operator for more lines (also after the trial): the request is posted to the configured billing hook, signed (X-Wab24-Signature: sha256=<hex HMAC-SHA256 of the body>), and audited (app.upgrade_requested) in the tenant's and the registry's logs; 503 when no hook is configured or it did not accept",
            body: Some("UpgradeRequest"),
            ok: ("202", "UpgradeRequested"),
            errors: &["400", "503"],
        },
        handler: Handler::Scoped(|g| {
            g.and(json())
                .then(|st, s, body| respond(subscription::request_upgrade(st, s, body)))
                .boxed()
        }),
    },
    Route {
        method: Method::Post,
        path: "/api/hooks/plan",
        access: Access::HookSecret,
        writable: false,
        token_in_query: false,
        doc: Doc {
            summary: "Billing hook: change a tenant's plan (header X-Wab24-Hook-Secret; 404 when no secret is configured)",
            body: Some("PlanChange"),
            ok: ("200", "json"),
            errors: &["400", "404"],
        },
        handler: Handler::Open(|g| {
            g.and(json()).then(|st, body| respond(subscription::plan_hook(st, body))).boxed()
        }),
    },
    Route {
        method: Method::Get,
        path: "/api/events",
        access: Access::Member,
        writable: false,
        token_in_query: true,
        doc: Doc {
            summary: "Server-Sent Events scoped by the token (Authorization header or access_token query): line.created, line.assigned, line.updated, line.deleted, line.unassigned, line.status, message.stored and message.status (each with the message itself), message.send_failed, conversation.read, conversation.opened, subscription.changed, resync",
            body: None,
            ok: ("200", "event-stream"),
            errors: &[],
        },
        handler: Handler::Scoped(|g| g.then(|st, s| respond(sse::events(st, s))).boxed()),
    },
];
