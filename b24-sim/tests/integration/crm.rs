//! CRM: items and duplicate search.

use serde_json::{Value, json};

use crate::support::env;

/// RD `api-reference/crm/universal/crm-item-get.md`: a missing item and an unknown entity type
/// are both 400 `NOT_FOUND`.
#[tokio::test]
async fn a_missing_item_is_400_not_found() {
    let env = env().await;
    let missing = env.call("crm.item.get", json!({"entityTypeId": 3, "id": 424_242})).await;
    assert_eq!((missing.status, missing.error()), (400, "NOT_FOUND"));
    let no_type = env.call("crm.item.get", json!({"entityTypeId": 9, "id": 1})).await;
    assert_eq!((no_type.status, no_type.error()), (400, "NOT_FOUND"));
    let update =
        env.call("crm.item.update", json!({"entityTypeId": 3, "id": 424_242, "fields": {}})).await;
    assert_eq!((update.status, update.error()), (400, "NOT_FOUND"));
    let added =
        env.call("crm.item.add", json!({"entityTypeId": 3, "fields": {"name": "Anna"}})).await;
    let id = added.result()["item"]["id"].clone();
    let got = env.call("crm.item.get", json!({"entityTypeId": 3, "id": id})).await;
    assert_eq!(got.result()["item"]["name"], "Anna");
}

async fn add_with_phone(env: &crate::support::Env, entity_type: u32, phone: &str) -> Value {
    let r = env
        .call("crm.item.add", json!({"entityTypeId": entity_type, "fields": {"fm": [{"typeId": "PHONE", "valueType": "WORK", "value": phone}]}}))
        .await;
    r.result()["item"]["id"].clone()
}

/// RD `api-reference/crm/duplicates/crm-duplicate-find-by-comm.md`: 400 with the documented
/// codes ("Communication type is not defined", "... '{type}' is not supported in current
/// context", "Communication values is not defined").
#[tokio::test]
async fn find_by_comm_errors_follow_the_docs() {
    let env = env().await;
    let no_type = env.call("crm.duplicate.findbycomm", json!({"values": ["+79991234567"]})).await;
    assert_eq!((no_type.status, no_type.error()), (400, "Communication type is not defined"));
    assert_eq!(no_type.body["error_description"], "Parameter 'type' is required.");
    let fax = env.call("crm.duplicate.findbycomm", json!({"type": "FAX", "values": ["1"]})).await;
    assert_eq!(
        (fax.status, fax.error()),
        (400, "Communication type 'FAX' is not supported in current context")
    );
    let no_values = env.call("crm.duplicate.findbycomm", json!({"type": "PHONE"})).await;
    assert_eq!((no_values.status, no_values.error()), (400, "Communication values is not defined"));
    let empty = env.call("crm.duplicate.findbycomm", json!({"type": "PHONE", "values": []})).await;
    assert_eq!(empty.error(), "Communication values is not defined");
}

/// RD `crm-duplicate-find-by-comm.md`: "maximum number of values: 20" (only the first 20 are
/// looked up), the phone's extension is ignored, and once one type has 20 or more matches the
/// types after it (lead, contact, company in that order) are not returned.
#[tokio::test]
async fn find_by_comm_cuts_off_at_twenty() {
    let env = env().await;
    let contact = add_with_phone(&env, 3, "+7 999 123-45-67").await;
    let mut values: Vec<String> = (0..20).map(|i| format!("+1 555 000 {i:04}")).collect();
    values.push("+79991234567".to_owned());
    let late =
        env.call("crm.duplicate.findbycomm", json!({"type": "PHONE", "values": values})).await;
    assert_eq!(late.result(), &json!([]), "the 21st value is not looked up");
    values.swap(0, 20);
    let early =
        env.call("crm.duplicate.findbycomm", json!({"type": "PHONE", "values": values})).await;
    assert_eq!(early.result(), &json!({"CONTACT": [contact]}));
    let ext = env
        .call(
            "crm.duplicate.findbycomm",
            json!({"type": "PHONE", "values": ["+7 (999) 123-45-67 ext. 12"]}),
        )
        .await;
    assert_eq!(ext.result(), &json!({"CONTACT": [contact]}));

    for _ in 0..20 {
        add_with_phone(&env, 1, "+44 20 7946 0000").await;
    }
    add_with_phone(&env, 3, "+44 20 7946 0000").await;
    let many = env
        .call("crm.duplicate.findbycomm", json!({"type": "PHONE", "values": ["+442079460000"]}))
        .await;
    let many = many.result();
    assert_eq!(many["LEAD"].as_array().unwrap().len(), 20);
    assert!(many.get("CONTACT").is_none(), "20 leads leave the contacts out: {many}");
    let only = env
        .call(
            "crm.duplicate.findbycomm",
            json!({"type": "PHONE", "values": ["+442079460000"], "entity_type": "CONTACT"}),
        )
        .await;
    assert_eq!(only.result().as_object().unwrap().len(), 1);
    assert_eq!(only.result()["CONTACT"].as_array().unwrap().len(), 1);
}

/// RD `api-reference/crm/timeline/comments/crm-timeline-comment-add.md`: `fields` in lower case.
#[tokio::test]
async fn timeline_comment_wants_lower_case_fields() {
    let env = env().await;
    let upper = env
        .call(
            "crm.timeline.comment.add",
            json!({"FIELDS": {"ENTITY_ID": 1, "ENTITY_TYPE": "contact", "COMMENT": "x"}}),
        )
        .await;
    assert_eq!((upper.status, upper.error()), (400, "ERROR_ARGUMENT"));
    let lower = env
        .call(
            "crm.timeline.comment.add",
            json!({"fields": {"ENTITY_ID": 1, "ENTITY_TYPE": "contact", "COMMENT": "x"}}),
        )
        .await;
    assert!(lower.result().as_u64().is_some());
}

/// Over HTTP: RD `crm/universal/category/crm-category-list.md` (`categories`, `total`),
/// `crm/universal/crm-item-add.md` (a field error is 400 with its code),
/// `crm/timeline/logmessage/crm-timeline-logmessage-list.md` (a plain array, pages of 10 with
/// `total` and `next`), `crm/duplicates/crm-duplicate-find-by-comm.md` (a phone stored with
/// spaces, brackets and dashes is found by its digits).
#[tokio::test]
async fn pipelines_field_errors_log_entries_and_formatted_phones_over_http() {
    let env = env().await;
    let cats = env.call("crm.category.list", json!({"entityTypeId": 2})).await;
    assert_eq!(cats.result()["categories"].as_array().unwrap().len(), 2);
    assert_eq!(cats.body["total"], 2);
    let bad =
        env.call("crm.item.add", json!({"entityTypeId": 2, "fields": {"categoryId": 42}})).await;
    assert_eq!((bad.status, bad.error()), (400, "CRM_FIELD_ERROR_CATEGORY_NOT_AVAILABLE"));
    let contact = add_with_phone(&env, 3, "+7 (999) 123-45-67").await;
    let found = env
        .call("crm.duplicate.findbycomm", json!({"type": "PHONE", "values": ["79991234567"]}))
        .await;
    assert_eq!(found.result()["CONTACT"], json!([contact]));
    for n in 0..11 {
        let fields = json!({"entityTypeId": 3, "entityId": contact, "title": format!("t{n}"),
            "text": "x", "iconCode": "info"});
        let added = env.call("crm.timeline.logmessage.add", json!({ "fields": fields })).await;
        assert!(added.result()["logMessage"]["id"].is_number());
    }
    let page = env
        .call("crm.timeline.logmessage.list", json!({"entityTypeId": 3, "entityId": contact}))
        .await;
    assert_eq!(page.result().as_array().unwrap().len(), 10);
    assert_eq!((page.body["total"].clone(), page.body["next"].clone()), (json!(11), json!(10)));
    let missing = env.call("crm.timeline.logmessage.list", json!({"entityTypeId": 3})).await;
    assert_eq!((missing.status, missing.error()), (400, "100"));
}
