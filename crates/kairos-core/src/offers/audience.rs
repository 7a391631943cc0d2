//! An offer's `audience`: conditions on the device that must all hold.

use serde_json::Value;

/// One condition of an audience.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The device's trip is one of these.
    Trip(Vec<Box<str>>),
    /// The context's `hungry` equals this.
    Hungry(bool),
    /// The profile follows all these diets.
    Diet(Vec<Box<str>>),
    /// The context's party is at least this.
    Party(u64),
    /// The profile's language is one of these.
    Lang(Vec<Box<str>>),
    /// An unknown key or a value of the wrong shape: never holds.
    Never(Box<str>),
}

/// All conditions of an offer's audience.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Audience {
    /// Every one must hold.
    pub conditions: Vec<Condition>,
}

impl Audience {
    /// True when the audience asks `hungry: true`.
    pub fn wants_hungry(&self) -> bool {
        self.conditions.contains(&Condition::Hungry(true))
    }

    /// Reads an `audience` object; the second value lists problems (unknown keys,
    /// wrong shapes) whose conditions never hold.
    pub fn from_json(value: &Value) -> Result<(Self, Vec<String>), String> {
        let object = value
            .as_object()
            .ok_or_else(|| "audience is not an object".to_string())?;
        let mut problems = Vec::new();
        let mut conditions = Vec::with_capacity(object.len());
        for (key, v) in object {
            let condition = match key.as_str() {
                "trip" => strings(v).map(Condition::Trip),
                "diet" => strings(v).map(Condition::Diet),
                "lang" => strings(v).map(Condition::Lang),
                "hungry" => v.as_bool().map(Condition::Hungry),
                "party" => v.as_u64().map(Condition::Party),
                _ => {
                    problems.push(format!("audience key `{key}` is unknown and never holds"));
                    conditions.push(Condition::Never(key.as_str().into()));
                    continue;
                }
            };
            conditions.push(condition.unwrap_or_else(|| {
                problems.push(format!("audience `{key}` has a value of the wrong type"));
                Condition::Never(key.as_str().into())
            }));
        }
        Ok((Self { conditions }, problems))
    }
}

/// A list of strings, or one string standing for a list of one.
fn strings(value: &Value) -> Option<Vec<Box<str>>> {
    match value {
        Value::String(s) => Some(vec![s.as_str().into()]),
        Value::Array(items) => items.iter().map(|i| i.as_str().map(Box::from)).collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_keys_and_bad_values_never_hold() {
        let (audience, problems) =
            Audience::from_json(&json!({"trip": ["vacation"], "mood": "happy", "party": "two"}))
                .unwrap();
        assert_eq!(problems.len(), 2);
        assert_eq!(audience.conditions.len(), 3);
        assert!(matches!(audience.conditions[1], Condition::Never(_)));
        assert!(matches!(audience.conditions[2], Condition::Never(_)));
    }
}
