//! Tolerant parsing of Bitrix24's shape quirks: ids as strings or numbers, `"Y"`/`"N"` booleans,
//! `[]` where `{}` is meant, `null`/`""` for empty values.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use serde_json::Value;

/// An entity id that Bitrix24 sends as a number in some methods and a string in others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Id(pub u64);

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u64> for Id {
    fn from(v: u64) -> Self {
        Id(v)
    }
}

impl Id {
    /// Reads an id from a JSON value: a non-negative integer or a string of digits.
    pub fn from_value(v: &Value) -> Option<Id> {
        match v {
            Value::Number(n) => n.as_u64().map(Id),
            Value::String(s) => s.trim().parse().ok().map(Id),
            _ => None,
        }
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Id::from_value(&v).ok_or_else(|| de::Error::custom(format!("not an id: {v}")))
    }
}

/// Reads a Bitrix24 boolean: `true`/`false`, `"Y"`/`"N"`, `1`/`0`, `"1"`/`"0"`,
/// `"true"`/`"false"`; `null` and `""` are false.
pub fn flex_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Null => Some(false),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" | "1" | "true" => Some(true),
            "n" | "no" | "0" | "false" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Serde helpers for `#[serde(deserialize_with = ...)]`.
pub mod de_flex {
    use super::*;

    /// A Bitrix24 boolean (see [`flex_bool`](super::flex_bool)); a missing field needs
    /// `#[serde(default)]`.
    pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        let v = Value::deserialize(d)?;
        flex_bool(&v).ok_or_else(|| de::Error::custom(format!("not a boolean: {v}")))
    }

    /// An optional id: `null`, `""`, `0`-less empties become `None`.
    pub fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Id>, D::Error> {
        let v = Value::deserialize(d)?;
        match &v {
            Value::Null => Ok(None),
            Value::String(s) if s.is_empty() => Ok(None),
            Value::Bool(false) => Ok(None),
            _ => Id::from_value(&v)
                .map(Some)
                .ok_or_else(|| de::Error::custom(format!("not an id: {v}"))),
        }
    }

    /// A list of ids that may come as an array, a single id, an object of ids, or an empty value.
    pub fn ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Id>, D::Error> {
        let v = Value::deserialize(d)?;
        let items: Vec<&Value> = match &v {
            Value::Null | Value::Bool(false) => vec![],
            Value::String(s) if s.is_empty() => vec![],
            Value::Array(a) => a.iter().collect(),
            Value::Object(o) => o.values().collect(),
            other => vec![other],
        };
        items
            .into_iter()
            .map(|i| Id::from_value(i).ok_or_else(|| de::Error::custom(format!("not an id: {i}"))))
            .collect()
    }

    /// A string that may come as a number, or be `null`.
    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(match v {
            Value::Null => String::new(),
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => return Err(de::Error::custom(format!("not a string: {other}"))),
        })
    }

    /// A list of strings that may come as one scalar or an array (e.g. `message.id`).
    pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let v = Value::deserialize(d)?;
        let scalar = |v: &Value| match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(de::Error::custom(format!("not a string: {other}"))),
        };
        match &v {
            Value::Null => Ok(vec![]),
            Value::Array(a) => a.iter().map(scalar).collect(),
            Value::Object(o) => o.values().map(scalar).collect(),
            other => Ok(vec![scalar(other)?]),
        }
    }

    /// A map that PHP may send as `[]` when it is empty.
    pub fn object<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<serde_json::Map<String, Value>, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(empty_to_object(v))
    }
}

/// Turns PHP's empty array (`[]`), `null` and `false` into an empty object; turns a list into an
/// object keyed `"0"`, `"1"`...; leaves objects as they are; any other scalar becomes an
/// empty object.
pub fn empty_to_object(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(o) => o,
        Value::Array(a) => a.into_iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect(),
        _ => serde_json::Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize)]
    struct T {
        id: Id,
        #[serde(deserialize_with = "de_flex::bool")]
        active: bool,
        #[serde(deserialize_with = "de_flex::ids", default)]
        dept: Vec<Id>,
        #[serde(deserialize_with = "de_flex::object", default)]
        extra: serde_json::Map<String, Value>,
        #[serde(deserialize_with = "de_flex::opt_id", default)]
        head: Option<Id>,
    }

    #[test]
    fn reads_every_quirk() {
        let a: T = serde_json::from_value(
            json!({"id": "3", "active": "Y", "dept": ["1", 2], "extra": [], "head": ""}),
        )
        .unwrap();
        assert_eq!(
            (a.id, a.active, a.dept.len(), a.extra.len(), a.head),
            (Id(3), true, 2, 0, None)
        );
        let b: T = serde_json::from_value(
            json!({"id": 4, "active": false, "dept": 7, "extra": {"k": 1}, "head": "9"}),
        )
        .unwrap();
        assert_eq!(
            (b.id, b.active, b.dept, b.extra.len(), b.head),
            (Id(4), false, vec![Id(7)], 1, Some(Id(9)))
        );
        assert!(serde_json::from_value::<T>(json!({"id": "x", "active": "Y"})).is_err());
        assert!(serde_json::from_value::<T>(json!({"id": 1, "active": "maybe"})).is_err());
        assert_eq!(flex_bool(&json!("n")), Some(false));
        assert_eq!(Id::from_value(&json!(-1)), None);
    }
}
