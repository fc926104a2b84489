//! The "WhatsApp" tab of Bitrix24's CRM cards: bound at install to the four detail-tab
//! placements, opened with the frame Bitrix24 POSTs (REST docs
//! `api-reference/widgets/crm/detail-tab.md`: `PLACEMENT` `CRM_*_DETAIL_TAB`,
//! `PLACEMENT_OPTIONS` `{"ID":"<item id>",...}`), showing the conversations with the card's
//! numbers on the lines the viewer may see.

use serde_json::{Value, json};

use crate::app::{ALPHA, App, BETA, start};

/// The session the page hands to its scripts.
fn session_of(page: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"wab24-session\">";
    let start = page.find(open).expect("session element") + open.len();
    let end = page[start..].find("</script>").unwrap() + start;
    serde_json::from_str(&page[start..end]).unwrap()
}

async fn line(app: &App, admin: &str, name: &str, user: Option<i64>) -> i64 {
    assert_eq!(app.get("/api/users", admin).await.status, 200);
    let line = app.call("POST", "/api/lines", Some(admin), Some(json!({"name": name}))).await;
    let id = line.json()["id"].as_i64().unwrap();
    if let Some(user) = user {
        let path = format!("/api/lines/{id}/assignment");
        let a = app.call("PUT", &path, Some(admin), Some(json!({"user_id": user}))).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    id
}

/// `user` opens the tab of `placement` for item `id`.
async fn open_tab(
    app: &App,
    member: &str,
    user: u64,
    placement: &str,
    id: u64,
) -> crate::app::Answer {
    let (q, b) = app
        .sim
        .frame_request(member, user, placement, &json!({"ID": id.to_string(), "URI": "/crm/"}))
        .unwrap();
    app.post_form("/b24/crm-tab", &q, b).await
}

fn phone(n: u32) -> String {
    format!("7916000000{n}")
}

/// The conversation ids the tab's session sees for its card.
async fn tab_conversations(app: &App, session: &Value) -> Vec<i64> {
    let phones: Vec<&str> =
        session["crm"]["phones"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    let q: String = form_urlencoded_phones(&phones.join(","));
    let a = app
        .get(&format!("/api/conversations/by-phone?phones={q}"), session["token"].as_str().unwrap())
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

fn form_urlencoded_phones(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'0'..=b'9' | b',' | b'-' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn the_tab_is_bound_at_install_titled_whatsapp_and_once() {
    let app = start().await;
    app.install(ALPHA).await;
    let handler = app.url("/b24/crm-tab");
    let placements = app.sim.inspect(ALPHA).unwrap()["placements"].clone();
    let ours: Vec<&str> = placements
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["handler"] == handler.as_str() && p["title"] == "WhatsApp")
        .map(|p| p["placement"].as_str().unwrap())
        .collect();
    assert_eq!(
        ours,
        [
            "CRM_CONTACT_DETAIL_TAB",
            "CRM_COMPANY_DETAIL_TAB",
            "CRM_LEAD_DETAIL_TAB",
            "CRM_DEAL_DETAIL_TAB"
        ]
    );
    // At start (and again): nothing is bound twice.
    let again = wab24::crm_tab::placements::bind(&app.state, ALPHA).await.unwrap();
    assert!(again.bound.is_empty() && again.already.len() == 4, "{again:?}");
    assert_eq!(wab24::crm_tab::placements::bind_all(&app.state).await, vec![ALPHA.to_owned()]);
    assert_eq!(
        app.sim.inspect(ALPHA).unwrap()["placements"].as_array().unwrap().len(),
        placements.as_array().unwrap().len()
    );
}

#[tokio::test]
async fn the_tab_shows_the_cards_conversations_to_the_lines_viewers_only() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let sales = line(&app, &admin, "Sales", Some(2)).await;
    let other = line(&app, &admin, "Other", None).await;
    let jid = |n: u32| format!("{}@s.whatsapp.net", phone(n));
    let olga_sales = app.inbound(ALPHA, sales, &jid(1), "Olga", "w1", "hello").await;
    let olga_other = app.inbound(ALPHA, other, &jid(1), "Olga", "w2", "hi again").await;
    let _stranger = app.inbound(ALPHA, sales, &jid(9), "Ivan", "w3", "not hers").await;
    // The CRM writes her number its own way.
    let contact = app
        .sim
        .add_crm_item(
            ALPHA,
            3,
            &json!({"name": "Olga", "lastName": "<Petrova>",
            "fm": [{"typeId": "PHONE", "valueType": "MOBILE", "value": "8 (916) 000-00-01"}]}),
        )
        .unwrap();

    // Administrator: every line.
    let a = open_tab(&app, ALPHA, 1, "CRM_CONTACT_DETAIL_TAB", contact).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let csp = a.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors http://alpha.test"), "{csp}");
    assert!(a.body.contains("<script type=module src=\"/ui/app.js\">"));
    let s = session_of(&a.body);
    assert_eq!(s["role"], "admin");
    assert_eq!(
        s["crm"],
        json!({"entity_type": "contact", "entity_id": contact, "title": "Olga <Petrova>", "phones": ["8 (916) 000-00-01"]})
    );
    assert!(!a.body.contains("<Petrova>"), "escaped in the page");
    let mut seen = tab_conversations(&app, &s).await;
    seen.sort();
    assert_eq!(seen, vec![olga_sales, olga_other]);

    // The line's user: their line only; and the composer works there.
    let s = session_of(&open_tab(&app, ALPHA, 2, "CRM_CONTACT_DETAIL_TAB", contact).await.body);
    assert_eq!(s["role"], "user");
    assert_eq!(tab_conversations(&app, &s).await, vec![olga_sales]);
    let token = s["token"].as_str().unwrap();
    let sent = app
        .call(
            "POST",
            &format!("/api/conversations/{olga_sales}/messages"),
            Some(token),
            Some(json!({"text": "Your sofa is ready"})),
        )
        .await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    // Not the other line's chat.
    let a = app
        .call(
            "POST",
            &format!("/api/conversations/{olga_other}/messages"),
            Some(token),
            Some(json!({"text": "x"})),
        )
        .await;
    assert_eq!(a.status, 404, "{}", a.body);

    // A user with no line: the tab opens, with nothing in it.
    let s = session_of(&open_tab(&app, ALPHA, 3, "CRM_CONTACT_DETAIL_TAB", contact).await.body);
    assert!(tab_conversations(&app, &s).await.is_empty());

    // The API refuses what names no number.
    for bad in ["", "abc", "12"] {
        let a = app.get(&format!("/api/conversations/by-phone?phones={bad}"), &admin).await;
        assert_eq!((a.status, a.code().as_str()), (400, "bad_request"), "{bad}: {}", a.body);
    }
    let many = (0..21).map(|i| format!("7916000{i:04}")).collect::<Vec<_>>().join(",");
    assert_eq!(
        app.get(&format!("/api/conversations/by-phone?phones={many}"), &admin).await.status,
        400
    );
}

#[tokio::test]
async fn a_deals_tab_finds_its_contacts_and_companys_numbers() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let sales = line(&app, &admin, "Sales", Some(2)).await;
    let olga = app
        .inbound(ALPHA, sales, &format!("{}@s.whatsapp.net", phone(1)), "Olga", "w1", "hi")
        .await;
    let office = app
        .inbound(ALPHA, sales, &format!("{}@s.whatsapp.net", phone(2)), "Office", "w2", "hi")
        .await;
    let contact = app
        .sim
        .add_crm_item(ALPHA, 3, &json!({"name": "Olga", "fm": [{"typeId": "PHONE", "valueType": "WORK", "value": "+79160000001"}]}))
        .unwrap();
    let company = app
        .sim
        .add_crm_item(ALPHA, 4, &json!({"title": "Sofas Ltd", "fm": [{"typeId": "PHONE", "valueType": "WORK", "value": "+7 916 000 00 02"}]}))
        .unwrap();
    let deal = app
        .sim
        .add_crm_item(ALPHA, 2, &json!({"title": "Big sofa", "contactId": contact, "contactIds": [contact, 99999], "companyId": company, "stageId": "NEW"}))
        .unwrap();
    let a = open_tab(&app, ALPHA, 2, "CRM_DEAL_DETAIL_TAB", deal).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let s = session_of(&a.body);
    assert_eq!(s["crm"]["title"], "Big sofa");
    assert_eq!(s["crm"]["phones"], json!(["+79160000001", "+7 916 000 00 02"]));
    let mut seen = tab_conversations(&app, &s).await;
    seen.sort();
    assert_eq!(seen, vec![olga, office]);
    // A lead's own numbers.
    let lead = app
        .sim
        .add_crm_item(ALPHA, 1, &json!({"title": "Web lead", "fm": [{"typeId": "PHONE", "valueType": "WORK", "value": "+79160000002"}]}))
        .unwrap();
    let s = session_of(&open_tab(&app, ALPHA, 2, "CRM_LEAD_DETAIL_TAB", lead).await.body);
    assert_eq!(tab_conversations(&app, &s).await, vec![office]);
}

#[tokio::test]
async fn a_forged_or_wrong_frame_is_refused() {
    let app = start().await;
    app.install(ALPHA).await;
    let contact = app.sim.add_crm_item(ALPHA, 3, &json!({"name": "Olga"})).unwrap();
    let (q, b) = app
        .sim
        .frame_request(ALPHA, 1, "CRM_CONTACT_DETAIL_TAB", &json!({"ID": contact.to_string()}))
        .unwrap();
    let forged = b
        .split('&')
        .map(
            |kv| if kv.starts_with("AUTH_ID=") { "AUTH_ID=nope".to_owned() } else { kv.to_owned() },
        )
        .collect::<Vec<_>>()
        .join("&");
    let before = app.sim.calls_to("crm.item.get").len();
    let a = app.post_form("/b24/crm-tab", &q, forged).await;
    assert!(matches!(a.status, 401 | 403), "{}: {}", a.status, a.body);
    assert!(!a.body.contains("wab24-session"));
    assert_eq!(app.sim.calls_to("crm.item.get").len(), before, "nothing read for a forged frame");
    // Another placement, or no item: 400 in the frame.
    for (placement, options) in
        [("DEFAULT", json!({"ID": "1"})), ("CRM_CONTACT_DETAIL_TAB", json!({}))]
    {
        let (q, b) = app.sim.frame_request(ALPHA, 1, placement, &options).unwrap();
        let a = app.post_form("/b24/crm-tab", &q, b).await;
        assert_eq!(a.status, 400, "{placement}: {}", a.body);
        assert!(a.body.contains("data-code=\"bad_request\"") && !a.body.contains("wab24-session"));
    }
    // An item the portal does not have.
    let a = open_tab(&app, ALPHA, 1, "CRM_DEAL_DETAIL_TAB", 987_654).await;
    assert_eq!(a.status, 404, "{}", a.body);
    assert!(!a.body.contains("wab24-session"));
    // A portal where the app is not installed.
    let a = open_tab(&app, BETA, 1, "CRM_CONTACT_DETAIL_TAB", contact).await;
    assert_eq!(a.status, 403, "{}", a.body);
}

/// Writing first from the tab: its session opens a chat with the card's number (written the
/// CRM's way) on the line through `POST /api/lines/{id}/chats`, and the message reaches the
/// customer's phone; the tab then lists that chat.
#[tokio::test]
async fn the_tab_writes_first_to_one_of_the_cards_numbers() {
    use crate::app::Sse;

    const LINE_PHONE: &str = "79990000451";
    const CUSTOMER: &str = "79160000451";
    let app = start().await;
    app.install(ALPHA).await;
    app.wa.create_account(LINE_PHONE, Some("200000000000451")).unwrap();
    app.wa.create_account(CUSTOMER, Some("100000000000451")).unwrap();
    let admin = app.token(ALPHA, 1).await;
    let mut events = Sse::open(&app, &admin).await;
    let sales = line(&app, &admin, "Sales", Some(2)).await;
    app.call("POST", &format!("/api/lines/{sales}/connect"), Some(&admin), None).await;
    let qr = events.find("line.status", |d| d["line_id"] == sales && d["state"] == "qr").await;
    app.wa.scan(qr["qr"].as_str().unwrap(), LINE_PHONE).await.unwrap();
    events.find("line.status", |d| d["line_id"] == sales && d["state"] == "connected").await;

    let contact = app
        .sim
        .add_crm_item(
            ALPHA,
            3,
            &json!({"name": "Olga",
            "fm": [{"typeId": "PHONE", "valueType": "MOBILE", "value": "8 (916) 000-04-51"}]}),
        )
        .unwrap();
    let s = session_of(&open_tab(&app, ALPHA, 2, "CRM_CONTACT_DETAIL_TAB", contact).await.body);
    assert!(tab_conversations(&app, &s).await.is_empty());
    let token = s["token"].as_str().unwrap();
    // The panel sends the number in international form (crm.js `phoneKey`).
    let opened = app
        .call(
            "POST",
            &format!("/api/lines/{sales}/chats"),
            Some(token),
            Some(json!({"phone": "+79160000451"})),
        )
        .await;
    assert_eq!(opened.status, 200, "{}", opened.body);
    let conversation = opened.json()["conversation"]["id"].as_i64().unwrap();
    assert_eq!(tab_conversations(&app, &s).await, vec![conversation]);
    let sent = app
        .call(
            "POST",
            &format!("/api/conversations/{conversation}/messages"),
            Some(token),
            Some(json!({"text": "Hello from your CRM card", "idempotency_key": "crm-tab-1"})),
        )
        .await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    let id = sent.json()["id"].as_i64().unwrap();
    events.find("message.status", |d| d["message_id"] == id && d["status"] == "delivered").await;
    let received: Vec<String> = app
        .wa
        .phone_received(CUSTOMER)
        .unwrap()
        .into_iter()
        .filter(|m| !m.from_me)
        .filter_map(|m| m.text)
        .collect();
    assert_eq!(received, ["Hello from your CRM card"]);
}
