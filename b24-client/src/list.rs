//! List pagination as async streams: `start`/`next`, and `start=-1` for large exports.

use std::collections::VecDeque;

use futures_util::{Stream, stream};
use serde_json::{Value, json};

use crate::{
    client::Portal,
    error::{Error, Result},
    quirks::Id,
};

/// Page size of Bitrix24 list methods.
pub const PAGE_SIZE: usize = 50;

/// The rows of a list page: `result` itself, or the one array inside it (`{"items": [...]}` of
/// `crm.item.list`, `{"tasks": [...]}` ...).
pub fn page_items(result: Value) -> Result<Vec<Value>> {
    match result {
        Value::Array(a) => Ok(a),
        Value::Object(mut m) => {
            if let Some(Value::Array(a)) = m.remove("items") {
                return Ok(a);
            }
            let arrays: Vec<_> = m.into_iter().filter(|(_, v)| v.is_array()).collect();
            match <[_; 1]>::try_from(arrays) {
                Ok([(_, Value::Array(a))]) => Ok(a),
                _ => Err(Error::Decode {
                    what: "list page",
                    message: "no single array of rows".to_owned(),
                }),
            }
        }
        Value::Null => Ok(vec![]),
        _ => Err(Error::Decode { what: "list page", message: "not a list".to_owned() }),
    }
}

fn with(params: &Value, k: &str, v: Value) -> Value {
    let mut p = match params {
        Value::Object(m) => m.clone(),
        _ => serde_json::Map::new(),
    };
    p.insert(k.to_owned(), v);
    Value::Object(p)
}

struct Pages {
    portal: Portal,
    method: String,
    params: Value,
    buf: VecDeque<Value>,
    start: Option<u64>,
    done: bool,
}

struct Scan {
    portal: Portal,
    method: String,
    params: Value,
    id_field: String,
    buf: VecDeque<Value>,
    last: Option<u64>,
    done: bool,
}

impl Portal {
    /// Every row of a list method, page by page (`start=0`, then each `next`), as a stream.
    pub fn list(
        &self,
        method: &str,
        params: Value,
    ) -> impl Stream<Item = Result<Value>> + Send + 'static {
        let st = Pages {
            portal: self.clone(),
            method: method.to_owned(),
            params,
            buf: VecDeque::new(),
            start: Some(0),
            done: false,
        };
        stream::unfold(st, |mut st| async move {
            loop {
                if let Some(v) = st.buf.pop_front() {
                    return Some((Ok(v), st));
                }
                if st.done {
                    return None;
                }
                let start = st.start?;
                let params = with(&st.params, "start", json!(start));
                let page = match st.portal.call(&st.method, params).await {
                    Ok(env) => env,
                    Err(e) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                };
                st.start = page.next;
                st.done = page.next.is_none();
                match page_items(page.result) {
                    Ok(items) => st.buf.extend(items),
                    Err(e) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                }
            }
        })
    }

    /// Every row of a list method for large exports: sorted by `id_field` ascending, filtered
    /// `>id_field` past the last row, `start=-1` (no `total` count), until a short page.
    /// `id_field` is `ID` for classic methods and `id` for `crm.item.list`.
    pub fn list_all_fast(
        &self,
        method: &str,
        params: Value,
        id_field: &str,
    ) -> impl Stream<Item = Result<Value>> + Send + 'static {
        let st = Scan {
            portal: self.clone(),
            method: method.to_owned(),
            params,
            id_field: id_field.to_owned(),
            buf: VecDeque::new(),
            last: None,
            done: false,
        };
        stream::unfold(st, |mut st| async move {
            loop {
                if let Some(v) = st.buf.pop_front() {
                    return Some((Ok(v), st));
                }
                if st.done {
                    return None;
                }
                let mut filter = match st.params.get("filter") {
                    Some(Value::Object(f)) => f.clone(),
                    _ => serde_json::Map::new(),
                };
                if let Some(last) = st.last {
                    filter.insert(format!(">{}", st.id_field), json!(last));
                }
                let p = with(&st.params, "filter", Value::Object(filter));
                let p = with(&p, "order", json!({ st.id_field.clone(): "ASC" }));
                let p = with(&p, "start", json!(-1));
                let items =
                    match st.portal.call(&st.method, p).await.and_then(|e| page_items(e.result)) {
                        Ok(items) => items,
                        Err(e) => {
                            st.done = true;
                            return Some((Err(e), st));
                        }
                    };
                st.done = items.len() < PAGE_SIZE;
                let last = items.last().and_then(|r| r.get(&st.id_field)).and_then(Id::from_value);
                match last {
                    Some(Id(l)) if st.last.is_none_or(|prev| l > prev) => st.last = Some(l),
                    _ if !items.is_empty() => {
                        st.done = true;
                        return Some((
                            Err(Error::Decode {
                                what: "list page",
                                message: format!("rows without increasing {}", st.id_field),
                            }),
                            st,
                        ));
                    }
                    _ => {}
                }
                st.buf.extend(items);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_rows() {
        assert_eq!(page_items(json!([1, 2])).unwrap().len(), 2);
        assert_eq!(page_items(json!({"items": [1]})).unwrap().len(), 1);
        assert_eq!(page_items(json!({"tasks": [1, 2, 3]})).unwrap().len(), 3);
        assert!(page_items(json!({"a": [1], "b": [2]})).is_err());
        assert!(page_items(json!(5)).is_err());
        assert!(page_items(Value::Null).unwrap().is_empty());
    }
}
