//! CRM routing against b24-sim: each line policy creates exactly what it says; a returning
//! customer is recognised by a differently formatted number; one whose deals are closed gets a
//! new deal or none, as the policy says; a line whose CRM is the Open Line's creates nothing;
//! one timeline entry per conversation day; and Bitrix24 down for a while (and answers lost
//! after the write) during many first messages creates every contact and lead exactly once.
//!
//! REST docs: api-reference/crm/universal/crm-item-add.md (items, `fm`, `originatorId` /
//! `originId`), crm/duplicates/crm-duplicate-find-by-comm.md (phones compared by their
//! digits), crm/universal/category/crm-category-list.md, crm/status/crm-status-list.md,
//! crm/timeline/logmessage/crm-timeline-logmessage-add.md.

use b24_client::ErrorCode;
use b24_sim::{Fault, FaultAction};
use serde_json::{Value, json};
use tenancy::{B24OutboxState, Caller};
use wab24::open_channels::worker::deliver_due;

use crate::app::{ALPHA, App, start_with};

const LEAD: u32 = 1;
const DEAL: u32 = 2;
const CONTACT: u32 = 3;

/// A line assigned to user 2 with this CRM policy.
async fn line_with(app: &App, admin: &str, name: &str, crm: Value) -> i64 {
    let created = app.call("POST", "/api/lines", Some(admin), Some(json!({ "name": name }))).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let line = created.json()["id"].as_i64().unwrap();
    let path = format!("/api/lines/{line}/assignment");
    let a = app.call("PUT", &path, Some(admin), Some(json!({ "user_id": 2 }))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let path = format!("/api/lines/{line}");
    let a = app.call("PATCH", &path, Some(admin), Some(json!({ "crm": crm }))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    line
}

/// Runs the outbox until nothing is left, letting every backoff run out.
async fn drain(app: &App) {
    for _ in 0..60 {
        let round = deliver_due(&app.state).await;
        assert_eq!(round.failed, 0, "nothing refused for good: {round:?}");
        if round.done + round.retried == 0 {
            return;
        }
        app.clock.advance(301);
    }
    panic!("the outbox does not drain");
}

fn items(app: &App, entity_type: u32) -> Vec<Value> {
    app.sim.crm_items(ALPHA, entity_type)
}

fn with_phone(app: &App, entity_type: u32, digits: &str) -> Vec<Value> {
    items(app, entity_type)
        .into_iter()
        .filter(|i| {
            i["fm"].as_array().is_some_and(|fm| {
                fm.iter().any(|f| {
                    let v: String = f["value"]
                        .as_str()
                        .unwrap_or("")
                        .chars()
                        .filter(char::is_ascii_digit)
                        .collect();
                    v == digits
                })
            })
        })
        .collect()
}

async fn customer_writes(app: &App, line: i64, number: &str, name: &str, wa_id: &str) -> i64 {
    app.inbound(ALPHA, line, &format!("{number}@s.whatsapp.net"), name, wa_id, "hello").await
}

async fn started() -> (App, String) {
    let app = start_with(|s| s.default_line_quota = 10).await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    // Users known to the app (listed by /api/users) may be assigned.
    app.token(ALPHA, 2).await;
    app.token(ALPHA, 3).await;
    (app, admin)
}

#[tokio::test]
async fn each_policy_creates_exactly_what_it_says() {
    let (app, admin) = started().await;
    let none = line_with(&app, &admin, "L-none", json!({ "mode": "none" })).await;
    let contact = line_with(&app, &admin, "L-contact", json!({ "mode": "contact" })).await;
    let lead = line_with(&app, &admin, "L-lead", json!({ "mode": "contact_lead" })).await;
    let deal = line_with(
        &app,
        &admin,
        "L-deal",
        json!({ "mode": "contact_deal", "category_id": 1, "stage_id": "C1:PREPARATION" }),
    )
    .await;
    let policy = app.call("GET", &format!("/api/lines/{deal}/crm"), Some(&admin), None).await;
    assert_eq!(policy.status, 200, "{}", policy.body);
    assert_eq!(
        policy.json(),
        json!({ "mode": "contact_deal", "category_id": 1, "stage_id": "C1:PREPARATION",
            "responsible": "line_user", "returning_closed_deal": "new_deal", "source_of_truth": "wab24" })
    );

    customer_writes(&app, none, "5511900001001", "Nadia", "N1").await;
    customer_writes(&app, contact, "5511900001002", "Carla", "C1").await;
    let lead_conv = customer_writes(&app, lead, "5511900001003", "Lena", "L1").await;
    customer_writes(&app, deal, "5511900001004", "", "D1").await;
    // More messages the same day change nothing.
    customer_writes(&app, lead, "5511900001003", "Lena", "L2").await;
    drain(&app).await;
    customer_writes(&app, lead, "5511900001003", "Lena", "L3").await;
    drain(&app).await;

    assert!(with_phone(&app, CONTACT, "5511900001001").is_empty(), "mode none creates nothing");
    let contacts = items(&app, CONTACT);
    assert_eq!(contacts.len(), 3, "{contacts:#?}");
    let carla = &with_phone(&app, CONTACT, "5511900001002")[0];
    assert_eq!(carla["name"], "Carla");
    assert_eq!(carla["fm"][0]["value"], "+5511900001002");
    assert_eq!(carla["sourceDescription"], "WhatsApp (L-contact)");
    assert_eq!(carla["assignedById"], 2, "responsible: the line's user");
    assert_eq!(carla["originatorId"], "wab24");
    let leads = items(&app, LEAD);
    assert_eq!(leads.len(), 1, "{leads:#?}");
    let lena = &with_phone(&app, CONTACT, "5511900001003")[0];
    assert_eq!(leads[0]["contactId"], lena["id"]);
    assert_eq!(leads[0]["originId"], format!("conversation:{lead_conv}"));
    assert_eq!(leads[0]["statusId"], "NEW");
    let deals = items(&app, DEAL);
    assert_eq!(deals.len(), 1, "{deals:#?}");
    let unnamed = &with_phone(&app, CONTACT, "5511900001004")[0];
    assert_eq!(unnamed["name"], "+5511900001004", "no WhatsApp name: the number");
    assert_eq!(deals[0]["contactId"], unnamed["id"]);
    assert_eq!(
        (deals[0]["categoryId"].clone(), deals[0]["stageId"].clone()),
        (json!(1), json!("C1:PREPARATION"))
    );

    // One timeline entry per conversation day, on the contact and on the lead or deal.
    let entries = app.sim.crm_log_messages(ALPHA);
    let on = |et: u32, id: &Value| {
        entries.iter().filter(|e| e["entityTypeId"] == json!(et) && e["entityId"] == *id).count()
    };
    assert_eq!(on(CONTACT, &lena["id"]), 1);
    assert_eq!(on(LEAD, &leads[0]["id"]), 1);
    assert_eq!(on(DEAL, &deals[0]["id"]), 1);
    assert_eq!(on(CONTACT, &carla["id"]), 1);
    assert_eq!(entries.len(), 5, "{entries:#?}");
    let text = entries[0]["text"].as_str().unwrap();
    assert!(text.contains("Open the chat: https://alpha.test/marketplace/app/"), "{text}");
    // The next day gets its own entry.
    app.clock.advance(86_400);
    customer_writes(&app, lead, "5511900001003", "Lena", "L4").await;
    drain(&app).await;
    assert_eq!(app.sim.crm_log_messages(ALPHA).len(), 7);
    assert_eq!(items(&app, LEAD).len(), 1, "still one lead");
}

#[tokio::test]
async fn a_returning_customer_is_recognised_by_a_differently_formatted_number() {
    let (app, admin) = started().await;
    let portal = app.state.portal(ALPHA).await.unwrap();
    let known = portal
        .crm_item_add(
            CONTACT,
            json!({ "name": "Known", "assignedById": 3,
                "fm": [{ "typeId": "PHONE", "valueType": "WORK", "value": "+7 (999) 123-45-67" }] }),
        )
        .await
        .unwrap();
    let line = line_with(
        &app,
        &admin,
        "L-forward",
        json!({ "mode": "contact_lead", "responsible": "client_responsible" }),
    )
    .await;
    customer_writes(&app, line, "79991234567", "Ivan", "R1").await;
    drain(&app).await;
    let contacts = items(&app, CONTACT);
    assert_eq!(contacts.len(), 1, "the known contact, none new: {contacts:#?}");
    let leads = items(&app, LEAD);
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0]["contactId"], known["id"]);
    assert_eq!(leads[0]["assignedById"], 3, "responsible: the client's");
    // A second new conversation of the same client (another line) reuses the open lead.
    let other = line_with(&app, &admin, "L-other", json!({ "mode": "contact_lead" })).await;
    customer_writes(&app, other, "79991234567", "Ivan", "R2").await;
    drain(&app).await;
    assert_eq!(items(&app, LEAD).len(), 1, "the open lead is the client's lead");
    assert_eq!(items(&app, CONTACT).len(), 1);
}

#[tokio::test]
async fn a_returning_customer_with_a_closed_deal_gets_a_new_deal_or_none_as_the_policy_says() {
    let (app, admin) = started().await;
    let portal = app.state.portal(ALPHA).await.unwrap();
    let mut contacts = vec![];
    for (n, stage) in
        [("79990000001", "WON"), ("79990000002", "LOSE"), ("79990000003", "EXECUTING")]
    {
        let c = portal
            .crm_item_add(CONTACT, json!({ "name": n, "fm": [{ "typeId": "PHONE", "value": n }] }))
            .await
            .unwrap();
        let d = portal
            .crm_item_add(DEAL, json!({ "title": "old", "contactId": c["id"], "stageId": stage }))
            .await
            .unwrap();
        assert_eq!(d["closed"], if stage == "EXECUTING" { "N" } else { "Y" });
        contacts.push(c["id"].clone());
    }
    let new_deal = line_with(&app, &admin, "L-new", json!({ "mode": "contact_deal" })).await;
    let nothing = line_with(
        &app,
        &admin,
        "L-nothing",
        json!({ "mode": "contact_deal", "returning_closed_deal": "nothing" }),
    )
    .await;
    let c1 = customer_writes(&app, new_deal, "+7 999 000-00-01", "A", "X1").await;
    let c2 = customer_writes(&app, nothing, "79990000002", "B", "X2").await;
    let c3 = customer_writes(&app, nothing, "79990000003", "C", "X3").await;
    drain(&app).await;
    let deals_of = |c: &Value| {
        items(&app, DEAL).into_iter().filter(|d| d["contactId"] == *c).collect::<Vec<_>>()
    };
    assert_eq!(deals_of(&contacts[0]).len(), 2, "closed deal, policy new_deal: a new one");
    assert_eq!(deals_of(&contacts[1]).len(), 1, "closed deal, policy nothing: none");
    assert_eq!(deals_of(&contacts[2]).len(), 1, "an open deal is reused");
    assert_eq!(items(&app, CONTACT).len(), 3, "no contact created");
    let t = app.store.tenant(ALPHA).await.unwrap();
    let link = |c| {
        let t = t.clone();
        async move { t.crm_link(Caller::System, c).await.unwrap().unwrap() }
    };
    let l1 = link(c1).await;
    assert!(
        l1.complete && l1.deal_id.is_some() && l1.deal_id != Some(contacts[0].as_i64().unwrap())
    );
    let l2 = link(c2).await;
    assert_eq!((l2.contact_id, l2.deal_id), (contacts[1].as_i64(), None));
    let l3 = link(c3).await;
    assert_eq!(l3.deal_id, deals_of(&contacts[2])[0]["id"].as_i64());
}

#[tokio::test]
async fn a_line_whose_crm_is_the_open_lines_creates_nothing() {
    let (app, admin) = started().await;
    let line = line_with(
        &app,
        &admin,
        "L-ol",
        json!({ "mode": "contact_lead", "source_of_truth": "open_line" }),
    )
    .await;
    customer_writes(&app, line, "5511900002001", "Olga", "O1").await;
    drain(&app).await;
    assert!(items(&app, CONTACT).is_empty() && items(&app, LEAD).is_empty());
    assert!(app.sim.calls_to("crm.duplicate.findbycomm").is_empty());
    assert!(app.sim.crm_log_messages(ALPHA).is_empty());
    // A wrong policy is refused with a clear message, and changes nothing.
    let path = format!("/api/lines/{line}");
    let bad =
        app.call("PATCH", &path, Some(&admin), Some(json!({ "crm": { "mode": "lead" } }))).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("crm.mode"), "{}", bad.body);
    let pipelines = app.call("GET", "/api/crm/pipelines", Some(&admin), None).await;
    assert_eq!(pipelines.status, 200, "{}", pipelines.body);
    let p = pipelines.json();
    assert_eq!(p["pipelines"][0]["id"], 0);
    assert_eq!(p["pipelines"][0]["is_default"], true);
    assert_eq!(p["pipelines"][0]["stages"][0]["id"], "NEW");
    assert_eq!(p["pipelines"][1]["stages"][0]["id"], "C1:NEW");
    let won =
        p["pipelines"][0]["stages"].as_array().unwrap().iter().find(|s| s["id"] == "WON").cloned();
    assert_eq!(won.unwrap()["semantics"], "success");
}

/// How many first messages the fault test sends.
const MANY: usize = 200;

#[tokio::test]
async fn bitrix24_down_during_many_first_messages_creates_each_client_once() {
    let (app, admin) = started().await;
    let line = line_with(&app, &admin, "L-many", json!({ "mode": "contact_lead" })).await;
    let down = [
        "crm.duplicate.findbycomm",
        "crm.item.add",
        "crm.item.list",
        "crm.timeline.logmessage.add",
    ];
    let mut retried = 0;
    for n in 0..MANY {
        customer_writes(&app, line, &format!("55119{n:08}"), &format!("C{n}"), &format!("M{n}"))
            .await;
        match n {
            // Bitrix24 down for a while: 503s and a proxy's page on every CRM method.
            // (The client itself retries each call a few times first, waiting for real.)
            40 => {
                for m in down {
                    let html = FaultAction::Html { status: 503 };
                    app.sim.add_fault(Fault::on(m, html).portal(ALPHA).times(6));
                    let overload = FaultAction::error(ErrorCode::OverloadLimit);
                    app.sim.add_fault(Fault::on(m, overload).portal(ALPHA).times(6));
                }
            }
            // Answers lost after the write: the item was created, we were not told.
            100 => {
                app.sim.add_fault(
                    Fault::on("crm.item.add", FaultAction::Truncated).portal(ALPHA).times(15),
                );
            }
            _ => {}
        }
        if n % 10 == 9 {
            let round = deliver_due(&app.state).await;
            assert_eq!(round.failed, 0, "{round:?}");
            retried += round.retried;
            app.clock.advance(301);
        }
    }
    app.sim.clear_faults();
    drain(&app).await;
    assert!(retried > 0, "the faults put items back");
    let contacts = items(&app, CONTACT);
    let leads = items(&app, LEAD);
    assert_eq!(contacts.len(), MANY, "one contact per customer");
    assert_eq!(leads.len(), MANY, "one lead per customer");
    let mut origins: Vec<String> =
        leads.iter().map(|l| l["originId"].as_str().unwrap().to_owned()).collect();
    origins.sort();
    origins.dedup();
    assert_eq!(origins.len(), MANY, "no conversation has two leads");
    for n in [0, 57, 104, MANY - 1] {
        assert_eq!(with_phone(&app, CONTACT, &format!("55119{n:08}")).len(), 1);
    }
    let t = app.store.tenant(ALPHA).await.unwrap();
    for state in [B24OutboxState::Pending, B24OutboxState::Sending, B24OutboxState::Failed] {
        let left = t.b24_outbox_items(Caller::System, line, state, 10).await.unwrap();
        assert!(left.is_empty(), "{state:?} items left: {left:?}");
    }
    // The lost answers were found again by their origin, not created twice.
    let truncated = app.sim.calls_to("crm.item.add").len();
    assert!(truncated >= 2 * MANY, "{truncated}");
}

/// A worker that dies in the middle of routing: its claims are left `sending`, and Bitrix24
/// already holds some of what it created (contacts, and deals for some) without our link
/// table knowing. Once the lease runs out, the next worker finishes the work, finding those by
/// their `originId`: nothing twice. (The SIGKILL of a whole server process is
/// `open_channels_restart.rs`'s, over the same outbox, lease and claims.)
#[tokio::test]
async fn a_worker_dying_mid_route_leaves_nothing_created_twice() {
    let (app, admin) = started().await;
    let line = line_with(&app, &admin, "L-crash", json!({ "mode": "contact_deal" })).await;
    let mut conversations = vec![];
    for n in 0..20 {
        let number = format!("5521{n:08}");
        conversations.push((
            number.clone(),
            customer_writes(&app, line, &number, "", &format!("K{n}")).await,
        ));
    }
    let t = app.store.tenant(ALPHA).await.unwrap();
    let lease = std::time::Duration::from_secs(120);
    let claimed = t.claim_b24_outbox(Caller::System, 100, lease, app.state.now()).await.unwrap();
    assert_eq!(claimed.len(), 40, "a route and a timeline item per conversation");
    // What the dead worker got done in Bitrix24 before it died.
    let portal = app.state.portal(ALPHA).await.unwrap();
    for (n, (number, conversation)) in conversations.iter().enumerate().take(10) {
        let origin = tenancy::crm_origin_id(*conversation);
        let contact = portal
            .crm_item_add(
                CONTACT,
                json!({ "name": number, "originatorId": "wab24", "originId": origin,
                    "fm": [{ "typeId": "PHONE", "value": format!("+{number}") }] }),
            )
            .await
            .unwrap();
        if n < 5 {
            portal
                .crm_item_add(
                    DEAL,
                    json!({ "title": "t", "contactId": contact["id"], "originatorId": "wab24", "originId": origin }),
                )
                .await
                .unwrap();
        }
    }
    // Nothing is due until the dead worker's lease runs out.
    assert_eq!(deliver_due(&app.state).await.done, 0);
    app.clock.advance(121);
    drain(&app).await;
    assert_eq!(items(&app, CONTACT).len(), 20, "one contact per customer");
    let deals = items(&app, DEAL);
    assert_eq!(deals.len(), 20, "one deal per customer");
    let mut origins: Vec<&str> = deals.iter().map(|d| d["originId"].as_str().unwrap()).collect();
    origins.sort_unstable();
    origins.dedup();
    assert_eq!(origins.len(), 20);
    for (number, conversation) in &conversations {
        let link = t.crm_link(Caller::System, *conversation).await.unwrap().unwrap();
        let contact = &with_phone(&app, CONTACT, number)[0];
        assert_eq!(link.contact_id, contact["id"].as_i64());
        assert!(link.complete && link.deal_id.is_some());
    }
    // One timeline entry on each contact and each deal.
    assert_eq!(app.sim.crm_log_messages(ALPHA).len(), 40);
}

/// The day's entry carries the day's files as signed links, and every CRM action is in the
/// tenant's audit log with the Bitrix24 ids.
#[tokio::test]
async fn the_days_files_go_as_signed_links_and_each_action_is_audited() {
    let (app, admin) = started().await;
    let line = line_with(&app, &admin, "L-files", json!({ "mode": "contact_lead" })).await;
    let t = app.store.tenant(ALPHA).await.unwrap();
    let photo = tenancy::Inbound {
        line_id: line,
        jid: "5511900003001@s.whatsapp.net".to_owned(),
        phone: Some("5511900003001".to_owned()),
        push_name: Some("Fia".to_owned()),
        wa_id: "F1".to_owned(),
        kind: tenancy::MessageKind::Image,
        text: Some("the invoice".to_owned()),
        media: Some(tenancy::Media {
            path: "f1.jpg".to_owned(),
            mime: "image/jpeg".to_owned(),
            size: 3,
            sha256: [7; 32],
        }),
        quoted_wa_id: None,
        raw: b"{}".to_vec(),
        note: None,
    };
    let message = t.record_inbound(Caller::System, &photo, app.state.now()).await.unwrap().message;
    drain(&app).await;
    let entries = app.sim.crm_log_messages(ALPHA);
    assert_eq!(entries.len(), 2, "on the contact and on the lead: {entries:#?}");
    let text = entries[0]["text"].as_str().unwrap();
    assert!(text.contains("Files:") && text.contains("/media/signed/"), "{text}");
    assert!(text.contains("Fia") && text.contains("+5511900003001"), "{text}");
    assert!(!text.contains("the invoice"), "the entry links the chat, it does not copy it");
    let token = text.rsplit("/media/signed/").next().unwrap().trim();
    let link = app.state.settings().media_links.key.verify(token, app.state.now_unix()).unwrap();
    assert_eq!(link.message_id, message.id);

    let audit = app.get("/api/audit?kind=b24.connector_call&limit=50", &admin).await.json();
    let payloads: Vec<Value> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["payload"].clone())
        .filter(|p| p.to_string().contains("crm_"))
        .collect();
    let lead = &items(&app, LEAD)[0];
    let contact = &items(&app, CONTACT)[0];
    let routed = payloads.iter().find(|p| p.to_string().contains("crm_route")).unwrap().to_string();
    assert!(routed.contains(&format!("\"lead_id\":{}", lead["id"])), "{routed}");
    assert!(routed.contains(&format!("\"contact_id\":{}", contact["id"])), "{routed}");
    let timeline = payloads.iter().find(|p| p.to_string().contains("crm_timeline")).unwrap();
    assert!(timeline.to_string().contains("entry_id"), "{timeline}");
}

#[tokio::test]
async fn a_department_lines_leads_go_to_the_responsible_its_rule_chooses() {
    let (app, admin) = started().await;
    // Everyone is in Company (department 1): users 1, 2 and 3; /api/users reads them.
    app.get("/api/users", &admin).await;
    let created =
        app.call("POST", "/api/lines", Some(&admin), Some(json!({ "name": "Team" }))).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let line = created.json()["id"].as_i64().unwrap();
    let body = json!({
        "assigned_department": 1,
        "responsible_mode": "evenly",
        "crm": { "mode": "contact_lead" },
    });
    let a = app.call("PATCH", &format!("/api/lines/{line}"), Some(&admin), Some(body)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    for i in 0..3 {
        customer_writes(&app, line, &format!("1555000710{i}"), "Team customer", &format!("t{i}"))
            .await;
    }
    drain(&app).await;
    let mut responsible: Vec<i64> = (0..3)
        .map(|i| {
            let contacts = with_phone(&app, CONTACT, &format!("1555000710{i}"));
            assert_eq!(contacts.len(), 1, "one contact per customer: {contacts:?}");
            let leads: Vec<Value> = items(&app, LEAD)
                .into_iter()
                .filter(|l| l["contactId"] == contacts[0]["id"])
                .collect();
            assert_eq!(leads.len(), 1, "one lead per customer: {leads:?}");
            assert_eq!(leads[0]["assignedById"], contacts[0]["assignedById"]);
            leads[0]["assignedById"].as_i64().unwrap()
        })
        .collect();
    responsible.sort_unstable();
    // Round robin over the department's members: each of the three gets one.
    assert_eq!(responsible, vec![1, 2, 3]);
}
