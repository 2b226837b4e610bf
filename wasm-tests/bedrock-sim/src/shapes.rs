//! Validation of a JSON request body against the Bedrock Runtime API model.
//!
//! `model/runtime-shapes.json` holds the shapes reachable from the request shapes of the
//! operations the simulator serves (and from the response shapes it answers with), taken
//! from botocore's `bedrock-runtime` service-2.json (documentation stripped, see
//! `model/extract_shapes.py`). The walk checks what the model says and nothing else:
//! member names (unknown ones are rejected), required members, unions with exactly one
//! member, JSON types, `min`/`max` (lengths and values), `enum` and `pattern` (matched
//! against the whole value), and blob members being base64.

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine as _;
use regex_lite::Regex;
use serde_json::{Map, Value};

use crate::util::short_json;

const RUNTIME_SHAPES: &str = include_str!("../model/runtime-shapes.json");

/// A loaded API model subset.
pub struct Model {
    shapes: Map<String, Value>,
    patterns: HashMap<String, Regex>,
}

/// One problem found in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A structural problem (unknown member, wrong JSON type, union arity, bad base64):
    /// the request does not deserialize. `pointer` is a JSON pointer like `#/messages/0`.
    Malformed { pointer: String, detail: String },
    /// A modeled constraint failed. `path` is in the Coral style of the real service:
    /// `messages.1.member.content` (list positions 1-based).
    Constraint {
        path: String,
        value: String,
        constraint: String,
    },
}

/// Where the walk is, kept in both notations the messages use.
#[derive(Clone)]
struct Loc {
    pointer: String,
    path: String,
}

impl Loc {
    fn root() -> Loc {
        Loc {
            pointer: "#".into(),
            path: String::new(),
        }
    }

    fn member(&self, name: &str) -> Loc {
        Loc {
            pointer: format!("{}/{name}", self.pointer),
            path: if self.path.is_empty() {
                name.to_owned()
            } else {
                format!("{}.{name}", self.path)
            },
        }
    }

    fn index(&self, i: usize) -> Loc {
        Loc {
            pointer: format!("{}/{i}", self.pointer),
            path: format!("{}.{}.member", self.path, i + 1),
        }
    }

    fn key(&self, k: &str) -> Loc {
        Loc {
            pointer: format!("{}/{k}", self.pointer),
            path: format!("{}.{k}", self.path),
        }
    }
}

fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(_) => "Number",
        Value::String(_) => "String",
        Value::Array(_) => "Array",
        Value::Object(_) => "Object",
    }
}

impl Model {
    /// The Bedrock Runtime shapes the simulator uses (built once).
    pub fn runtime() -> &'static Model {
        static MODEL: OnceLock<Model> = OnceLock::new();
        MODEL.get_or_init(|| {
            Model::load(RUNTIME_SHAPES)
                .unwrap_or_else(|e| panic!("model/runtime-shapes.json is broken: {e}"))
        })
    }

    pub fn load(text: &str) -> Result<Model, String> {
        let root: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let Value::Object(shapes) = root else {
            return Err("not an object".into());
        };
        let mut patterns = HashMap::new();
        for (name, shape) in &shapes {
            if let Some(p) = shape.get("pattern").and_then(Value::as_str) {
                let re = Regex::new(&format!("^(?:{p})$"))
                    .map_err(|e| format!("pattern of {name}: {e}"))?;
                patterns.insert(name.clone(), re);
            }
        }
        Ok(Model { shapes, patterns })
    }

    /// Validates `value` as shape `shape`. Members with `location` (URI labels, headers)
    /// are not body members and so are unknown in the body.
    pub fn validate(&self, shape: &str, value: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        self.walk(shape, value, &Loc::root(), &mut out);
        out
    }

    /// Validates a value that is not in the body (a URI label, a query parameter) as
    /// shape `shape`; violations are reported at `name`, the member's name in the model.
    pub fn validate_member(&self, shape: &str, value: &Value, name: &str) -> Vec<Violation> {
        let mut out = Vec::new();
        let loc = Loc {
            pointer: format!("#/{name}"),
            path: name.to_owned(),
        };
        self.walk(shape, value, &loc, &mut out);
        out
    }

    fn walk(&self, name: &str, v: &Value, loc: &Loc, out: &mut Vec<Violation>) {
        let Some(shape) = self.shapes.get(name) else {
            out.push(Violation::Malformed {
                pointer: loc.pointer.clone(),
                detail: format!("simulator model has no shape {name}"),
            });
            return;
        };
        let ty = shape.get("type").and_then(Value::as_str).unwrap_or("");
        let malformed = |out: &mut Vec<Violation>, detail: String| {
            out.push(Violation::Malformed {
                pointer: loc.pointer.clone(),
                detail,
            })
        };
        let wrong_type = |out: &mut Vec<Violation>, expected: &str| {
            out.push(Violation::Malformed {
                pointer: loc.pointer.clone(),
                detail: format!("expected type: {expected}, found: {}", json_type_name(v)),
            })
        };
        let constraint = |out: &mut Vec<Violation>, c: String| {
            out.push(Violation::Constraint {
                path: loc.path.clone(),
                value: short_json(v),
                constraint: c,
            })
        };
        let min = shape.get("min").and_then(Value::as_f64);
        let max = shape.get("max").and_then(Value::as_f64);
        let check_len = |out: &mut Vec<Violation>, len: usize| {
            if let Some(m) = min
                && (len as f64) < m
            {
                constraint(
                    out,
                    format!("Member must have length greater than or equal to {m}"),
                );
            }
            if let Some(m) = max
                && (len as f64) > m
            {
                constraint(
                    out,
                    format!("Member must have length less than or equal to {m}"),
                );
            }
        };
        match ty {
            "structure" if shape.get("document").and_then(Value::as_bool) == Some(true) => {}
            "structure" => {
                let Value::Object(obj) = v else {
                    return wrong_type(out, "Object");
                };
                let members = shape.get("members").and_then(Value::as_object);
                let empty = Map::new();
                let members = members.unwrap_or(&empty);
                let is_body_member =
                    |k: &str| members.get(k).is_some_and(|m| m.get("location").is_none());
                for k in obj.keys() {
                    if !is_body_member(k) {
                        malformed(out, format!("extraneous key [{k}] is not permitted"));
                    }
                }
                let set: Vec<&String> = obj
                    .iter()
                    .filter(|(k, val)| is_body_member(k) && !val.is_null())
                    .map(|(k, _)| k)
                    .collect();
                if shape.get("union").and_then(Value::as_bool) == Some(true) && set.len() != 1 {
                    let names: Vec<&str> = set.iter().map(|s| s.as_str()).collect();
                    malformed(
                        out,
                        format!(
                            "union {name} must have exactly one member set, found {} [{}]",
                            set.len(),
                            names.join(", ")
                        ),
                    );
                }
                if let Some(req) = shape.get("required").and_then(Value::as_array) {
                    for r in req.iter().filter_map(Value::as_str) {
                        if is_body_member(r) && obj.get(r).is_none_or(Value::is_null) {
                            out.push(Violation::Constraint {
                                path: loc.member(r).path,
                                value: "null".into(),
                                constraint: "Member must not be null".into(),
                            });
                        }
                    }
                }
                for k in set {
                    let Some(target) = members
                        .get(k.as_str())
                        .and_then(|m| m.get("shape"))
                        .and_then(Value::as_str)
                    else {
                        continue;
                    };
                    if let Some(val) = obj.get(k.as_str()) {
                        self.walk(target, val, &loc.member(k), out);
                    }
                }
            }
            "list" => {
                let Value::Array(items) = v else {
                    return wrong_type(out, "Array");
                };
                check_len(out, items.len());
                let member = shape
                    .get("member")
                    .and_then(|m| m.get("shape"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                for (i, item) in items.iter().enumerate() {
                    let at = loc.index(i);
                    if item.is_null() {
                        out.push(Violation::Constraint {
                            path: at.path,
                            value: "null".into(),
                            constraint: "Member must not be null".into(),
                        });
                    } else {
                        self.walk(member, item, &at, out);
                    }
                }
            }
            "map" => {
                let Value::Object(obj) = v else {
                    return wrong_type(out, "Object");
                };
                check_len(out, obj.len());
                let key_shape = shape
                    .get("key")
                    .and_then(|m| m.get("shape"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let value_shape = shape
                    .get("value")
                    .and_then(|m| m.get("shape"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                for (k, val) in obj {
                    let at = loc.key(k);
                    self.walk(key_shape, &Value::String(k.clone()), &at, out);
                    if val.is_null() {
                        out.push(Violation::Constraint {
                            path: at.path,
                            value: "null".into(),
                            constraint: "Member must not be null".into(),
                        });
                    } else {
                        self.walk(value_shape, val, &at, out);
                    }
                }
            }
            "string" => {
                let Value::String(s) = v else {
                    return wrong_type(out, "String");
                };
                if let Some(values) = shape.get("enum").and_then(Value::as_array)
                    && !values.iter().any(|e| e.as_str() == Some(s))
                {
                    let list: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
                    constraint(
                        out,
                        format!("Member must satisfy enum value set: [{}]", list.join(", ")),
                    );
                }
                check_len(out, s.chars().count());
                if let Some(re) = self.patterns.get(name)
                    && !re.is_match(s)
                {
                    let p = shape.get("pattern").and_then(Value::as_str).unwrap_or("");
                    constraint(
                        out,
                        format!("Member must satisfy regular expression pattern: {p}"),
                    );
                }
            }
            "integer" | "long" => {
                let n = match v.as_i64() {
                    Some(n) => n,
                    None => return wrong_type(out, "Integer"),
                };
                if ty == "integer" && i32::try_from(n).is_err() {
                    return malformed(out, format!("value {n} is out of range for an Integer"));
                }
                check_value(n as f64, min, max, &mut |c| constraint(out, c));
            }
            "float" | "double" => {
                let Some(n) = v.as_f64() else {
                    return wrong_type(out, "Number");
                };
                check_value(n, min, max, &mut |c| constraint(out, c));
            }
            "boolean" => {
                if !v.is_boolean() {
                    wrong_type(out, "Boolean");
                }
            }
            "blob" => {
                let Value::String(s) = v else {
                    return wrong_type(out, "String");
                };
                match base64::engine::general_purpose::STANDARD.decode(s) {
                    Ok(bytes) => check_len(out, bytes.len()),
                    Err(e) => malformed(out, format!("invalid base64 in a blob member ({e})")),
                }
            }
            "timestamp" => {
                if !(v.is_number() || v.is_string()) {
                    wrong_type(out, "Timestamp");
                }
            }
            other => malformed(out, format!("simulator cannot check shape type {other}")),
        }
    }
}

fn check_value(n: f64, min: Option<f64>, max: Option<f64>, report: &mut dyn FnMut(String)) {
    if let Some(m) = min
        && n < m
    {
        report(format!(
            "Member must have value greater than or equal to {m}"
        ));
    }
    if let Some(m) = max
        && n > m
    {
        report(format!("Member must have value less than or equal to {m}"));
    }
}

/// The message the real service gives for a list of violations: malformed bodies in the
/// JSON-schema style, constraint failures in the Coral style
/// (`1 validation error detected: Value '0' at 'inferenceConfig.maxTokens' failed to
/// satisfy constraint: Member must have value greater than or equal to 1`).
pub fn violations_message(violations: &[Violation]) -> Option<String> {
    let malformed: Vec<String> = violations
        .iter()
        .filter_map(|v| match v {
            Violation::Malformed { pointer, detail } => Some(format!("{pointer}: {detail}")),
            Violation::Constraint { .. } => None,
        })
        .collect();
    if !malformed.is_empty() {
        return Some(format!(
            "Malformed input request: {}, please reformat your input and try again.",
            malformed.join(", ")
        ));
    }
    let constraints: Vec<String> = violations
        .iter()
        .filter_map(|v| match v {
            Violation::Constraint {
                path,
                value,
                constraint,
            } => Some(if value == "null" {
                format!("Value null at '{path}' failed to satisfy constraint: {constraint}")
            } else {
                format!("Value '{value}' at '{path}' failed to satisfy constraint: {constraint}")
            }),
            Violation::Malformed { .. } => None,
        })
        .collect();
    match constraints.len() {
        0 => None,
        1 => Some(format!(
            "1 validation error detected: {}",
            constraints.join("; ")
        )),
        n => Some(format!(
            "{n} validation errors detected: {}",
            constraints.join("; ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn model_loads_and_patterns_compile() {
        let m = Model::runtime();
        assert!(m.shapes.contains_key("ConverseRequest"));
        assert!(m.patterns.contains_key("ToolName"));
        for root in [
            "CountTokensRequest",
            "ApplyGuardrailRequest",
            "InvokeGuardrailChecksRequest",
            "StartAsyncInvokeRequest",
            "GetAsyncInvokeRequest",
            "ListAsyncInvokesRequest",
            "ApplyGuardrailResponse",
            "GetAsyncInvokeResponse",
        ] {
            assert!(m.shapes.contains_key(root), "{root}");
        }
        assert!(m.patterns.contains_key("InvocationArn"));
        assert!(m.patterns.contains_key("GuardrailIdentifier"));
    }

    #[test]
    fn path_notation() {
        let v = Model::runtime().validate(
            "ConverseRequest",
            &json!({"messages": [{"role": "user", "content": [{"text": "a"}]},
                                 {"role": "robot", "content": [{"text": "b"}]}]}),
        );
        let msg = violations_message(&v).unwrap();
        assert_eq!(
            msg,
            "1 validation error detected: Value 'robot' at 'messages.2.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant, system]"
        );
    }
}
