//! The portal shell's minimal CRM (`/p/<domain>/crm`) and its detail tabs: RD
//! `api-reference/widgets/crm/detail-tab.md` (the handler gets a POST: `DOMAIN`, `PROTOCOL`,
//! `LANG`, `APP_SID` in the query string, `AUTH_ID`, `REFRESH_ID`, `member_id`, `PLACEMENT` and
//! `PLACEMENT_OPTIONS` `{"ID":"<id>","URI":...}` in the body).

use serde_json::{Value, json};

use crate::support::{DOMAIN, MEMBER, env};

async fn page(env: &crate::support::Env, path: &str) -> (u16, String) {
    let r = env.http.get(format!("{}{path}", env.base)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The hidden fields of the page's frame form.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let (name, rest) = rest.split_once("\" value=\"").unwrap();
            let value = rest.split_once('"').unwrap().0;
            let unescape = |s: &str| {
                s.replace("&quot;", "\"")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&#39;", "'")
                    .replace("&amp;", "&")
            };
            (unescape(name), unescape(value))
        })
        .collect()
}

#[tokio::test]
async fn the_crm_lists_items_added_by_control_and_by_rest() {
    let env = env().await;
    // A contact through the control endpoint, a deal through crm.item.add.
    let added = env
        .post(
            &format!("{}/_sim/crm/items?member_id={MEMBER}", env.base),
            json!({"entityTypeId": 3, "fields": {"name": "Olga", "assignedById": 2,
                "fm": [{"typeId": "PHONE", "valueType": "WORK", "value": "+7 916 000-00-01"}]}}),
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    let contact = added.body["id"].as_u64().unwrap();
    let deal = env
        .call("crm.item.add", json!({"entityTypeId": 2, "fields": {"title": "Sofa", "contactId": contact, "stageId": "NEW"}}))
        .await;
    let deal = deal.result()["item"]["id"].as_u64().unwrap();
    let bad = env
        .post(
            &format!("{}/_sim/crm/items?member_id={MEMBER}", env.base),
            json!({"entityTypeId": 9, "fields": {}}),
        )
        .await;
    assert_eq!(bad.status, 400);

    let (status, html) = page(&env, &format!("/p/{DOMAIN}/crm")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("/p/{DOMAIN}/crm/contact/{contact}?user=1&lang=en\">Olga</a>")),
        "{html}"
    );
    assert!(
        html.contains(&format!("/p/{DOMAIN}/crm/deal/{deal}?user=1&lang=en\">Sofa</a>")),
        "{html}"
    );
    let (status, html) = page(&env, &format!("/p/{DOMAIN}/crm/deal/{deal}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("<td data-field=\"stage\">NEW</td>"));
    assert!(html.contains(&format!("/crm/contact/{contact}?user=1&lang=en\">Olga</a>")), "{html}");
    for missing in ["/crm/deal/99999", "/crm/planet/1", "/crm/deal/x"] {
        assert_eq!(page(&env, &format!("/p/{DOMAIN}{missing}")).await.0, 404, "{missing}");
    }
    assert_eq!(page(&env, "/p/nowhere.test/crm").await.0, 404);
}

#[tokio::test]
async fn a_bound_detail_tab_opens_its_handler_with_the_frame_post() {
    let env = env().await;
    let contact = env.sim.add_crm_item(MEMBER, 3, &json!({"name": "Olga"})).unwrap();
    env.call(
        "placement.bind",
        json!({"PLACEMENT": "CRM_CONTACT_DETAIL_TAB", "HANDLER": "https://app.test/b24/crm-tab", "TITLE": "WhatsApp"}),
    )
    .await
    .result();
    let (_, html) = page(&env, &format!("/p/{DOMAIN}/crm/contact/{contact}?user=2")).await;
    assert!(html.contains("data-tab=\"0\">WhatsApp</a>"), "{html}");
    // A tab index nothing is bound to.
    assert_eq!(page(&env, &format!("/p/{DOMAIN}/crm/contact/{contact}?user=2&tab=1")).await.0, 404);

    let (status, html) =
        page(&env, &format!("/p/{DOMAIN}/crm/contact/{contact}?user=2&tab=0&lang=ru")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(
            "action=\"https://app.test/b24/crm-tab?DOMAIN=alpha.test&amp;PROTOCOL=0&amp;LANG=ru"
        ),
        "{html}"
    );
    let fields: std::collections::HashMap<String, String> =
        hidden_fields(&html).into_iter().collect();
    assert_eq!(fields["PLACEMENT"], "CRM_CONTACT_DETAIL_TAB");
    assert_eq!(fields["member_id"], MEMBER);
    let options: Value = serde_json::from_str(&fields["PLACEMENT_OPTIONS"]).unwrap();
    assert_eq!(options["ID"], contact.to_string());
    assert!(fields.contains_key("REFRESH_ID"));
    // AUTH_ID is the viewer's own token.
    let me = env.call_with(&fields["AUTH_ID"], "user.current", json!({})).await;
    assert_eq!(me.result()["ID"], "2");
}

/// RD `api-reference/widgets/universal/app-url.md`: a link to the application with
/// `?params[key]=value` opens it with those keys, values as strings, in `PLACEMENT_OPTIONS`
/// (keys outside `params` do not arrive). The shell opens the application's own frame
/// (`DEFAULT`) with them; another application's code is not found.
#[tokio::test]
async fn an_application_link_opens_the_app_with_its_params_as_placement_options() {
    let env = env().await;
    let code = b24_sim::SimConfig::default().client_id;
    let (status, html) = page(
        &env,
        &format!(
            "/p/{DOMAIN}/marketplace/app/{code}/?params%5Bconversation_id%5D=5&user=2&placement=X&app=http://127.0.0.1:9/b24/app"
        ),
    )
    .await;
    assert_eq!(status, 200, "{html}");
    let fields = hidden_fields(&html);
    let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(field("PLACEMENT").as_deref(), Some("DEFAULT"));
    let options: Value = serde_json::from_str(&field("PLACEMENT_OPTIONS").unwrap()).unwrap();
    assert_eq!(options, json!({"conversation_id": "5"}));
    assert!(html.contains("user 2"), "{html}");
    let (status, _) =
        page(&env, &format!("/p/{DOMAIN}/marketplace/app/local.other/?params%5Ba%5D=1")).await;
    assert_eq!(status, 404);
}
