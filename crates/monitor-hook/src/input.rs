//! Lenient access to one hook's stdin JSON.
//!
//! Claude Code adds fields often and older clients send far fewer, so nothing here is
//! required and a field of an unexpected type reads as absent instead of failing the
//! whole input. Values are borrowed as raw JSON and only the fields a mapping asks for
//! are decoded: a megabyte of `tool_response` costs one validation pass, no allocation.

use std::collections::HashMap;

use serde_json::value::RawValue;

/// One hook input: a JSON object whose fields are decoded on demand.
#[derive(Debug)]
pub struct HookInput<'a> {
    fields: HashMap<String, &'a RawValue>,
}

impl<'a> HookInput<'a> {
    /// Parses a JSON object; anything else (array, garbage, empty) is an error.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, serde_json::Error> {
        let fields: HashMap<String, &'a RawValue> = serde_json::from_slice(bytes)?;
        Ok(HookInput { fields })
    }

    /// The raw JSON of a field, when present and not `null`.
    pub fn raw(&self, key: &str) -> Option<&'a RawValue> {
        self.fields.get(key).copied().filter(|raw| raw.get() != "null")
    }

    /// A string field; a number or boolean reads as its JSON text. Empty reads as absent.
    pub fn str(&self, key: &str) -> Option<String> {
        let raw = self.raw(key)?;
        let text = match serde_json::from_str::<String>(raw.get()) {
            Ok(text) => text,
            Err(_) => {
                let text = raw.get();
                let scalar = text.starts_with(|c: char| c == '-' || c.is_ascii_digit())
                    || text == "true"
                    || text == "false";
                if !scalar {
                    return None;
                }
                text.to_owned()
            }
        };
        Some(text).filter(|t| !t.is_empty())
    }

    /// A numeric field; a numeric string (`"42"`) counts. Non-finite values read as absent.
    pub fn num(&self, key: &str) -> Option<f64> {
        let raw = self.raw(key)?;
        let value = serde_json::from_str::<f64>(raw.get())
            .ok()
            .or_else(|| serde_json::from_str::<String>(raw.get()).ok()?.trim().parse::<f64>().ok())?;
        value.is_finite().then_some(value)
    }

    /// A boolean field; `"true"`/`"false"` strings count.
    pub fn bool(&self, key: &str) -> Option<bool> {
        let raw = self.raw(key)?;
        match raw.get() {
            "true" | "\"true\"" => Some(true),
            "false" | "\"false\"" => Some(false),
            _ => None,
        }
    }

    /// The number of elements of an array field.
    pub fn array_len(&self, key: &str) -> Option<usize> {
        let raw = self.raw(key)?;
        serde_json::from_str::<Vec<&RawValue>>(raw.get()).ok().map(|items| items.len())
    }

    /// A field of a nested object field, e.g. `effort.level`, as a string.
    pub fn nested_str(&self, key: &str, inner: &str) -> Option<String> {
        let raw = self.raw(key)?;
        let object: HashMap<String, &RawValue> = serde_json::from_str(raw.get()).ok()?;
        let nested = HookInput { fields: object };
        nested.str(inner)
    }

    /// A nested object field as its own lenient view.
    pub fn object(&self, key: &str) -> Option<HookInput<'a>> {
        let raw = self.raw(key)?;
        let fields: HashMap<String, &'a RawValue> = serde_json::from_str(raw.get()).ok()?;
        Some(HookInput { fields })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_leniently() {
        let bytes = br#"{"a":"x","n":12.5,"s":"42","b":true,"bs":"false","z":null,"e":"",
            "arr":[1,{"k":2}],"obj":{"level":"high"},"weird":{"nested":[1,2]},"new_field":1}"#;
        let input = HookInput::parse(bytes).expect("object");
        assert_eq!(input.str("a").as_deref(), Some("x"));
        assert_eq!(input.str("n").as_deref(), Some("12.5"));
        assert_eq!(input.num("n"), Some(12.5));
        assert_eq!(input.num("s"), Some(42.0));
        assert_eq!(input.num("a"), None);
        assert_eq!(input.bool("b"), Some(true));
        assert_eq!(input.bool("bs"), Some(false));
        assert_eq!(input.str("z"), None);
        assert_eq!(input.str("e"), None);
        assert_eq!(input.str("missing"), None);
        assert_eq!(input.str("weird"), None);
        assert_eq!(input.array_len("arr"), Some(2));
        assert_eq!(input.array_len("obj"), None);
        assert_eq!(input.nested_str("obj", "level").as_deref(), Some("high"));
    }

    #[test]
    fn rejects_non_objects() {
        assert!(HookInput::parse(b"").is_err());
        assert!(HookInput::parse(b"[1,2]").is_err());
        assert!(HookInput::parse(b"not json").is_err());
        assert!(HookInput::parse(br#"{"a":1"#).is_err());
    }
}
