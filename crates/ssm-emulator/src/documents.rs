//! Session documents: the standard ones AWS provides and those a fleet file adds, in the JSON
//! form SSM stores them (`sessionType`, typed `parameters` with defaults and allowed patterns,
//! `properties` with `{{ name }}` placeholders), and the resolution of StartSession's
//! parameters into the properties the agent's handshake carries (protocol.md 7.7).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

/// A port number from 1 to 65535, as the AWS documents allow it.
const PORT_PATTERN: &str = "^([1-9]|[1-9][0-9]{1,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$";
/// A port number from 0 (chosen at run time) to 65535.
const LOCAL_PORT_PATTERN: &str = "^([0-9]|[1-9][0-9]{1,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$";

/// One declared parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// Its name.
    pub name: String,
    /// `String` or `StringList`.
    pub kind: String,
    /// What it is for.
    pub description: String,
    /// The value when none is given; a parameter without one is required.
    pub default: Option<String>,
    /// A regular expression every value must match.
    pub allowed_pattern: Option<String>,
}

/// A Session document.
#[derive(Debug, Clone)]
pub struct Document {
    /// Its name.
    pub name: String,
    /// `Amazon` for the standard ones, the account id otherwise.
    pub owner: String,
    /// The JSON content, as GetDocument returns it.
    pub content: String,
    /// `Standard_Stream`, `InteractiveCommands`, `NonInteractiveCommands` or `Port`.
    pub session_type: String,
    /// The description.
    pub description: String,
    /// Declared parameters, in order.
    pub parameters: Vec<Parameter>,
    /// The properties template.
    properties: Value,
}

const SESSION_TYPES: [&str; 4] =
    ["Standard_Stream", "InteractiveCommands", "NonInteractiveCommands", "Port"];

impl Document {
    /// Parses document content; the error says what is wrong.
    pub fn parse(name: &str, content: &str) -> Result<Document, String> {
        let value: Value = serde_json::from_str(content)
            .map_err(|e| format!("document {name}: content is not JSON: {e}"))?;
        let session_type = value
            .get("sessionType")
            .and_then(Value::as_str)
            .filter(|t| SESSION_TYPES.contains(t))
            .ok_or_else(|| {
                format!("document {name}: sessionType must be one of {}", SESSION_TYPES.join(", "))
            })?
            .to_owned();
        let mut parameters = Vec::new();
        if let Some(declared) = value.get("parameters") {
            let declared = declared
                .as_object()
                .ok_or_else(|| format!("document {name}: parameters must be an object"))?;
            for (pname, spec) in declared {
                let text = |key: &str| spec.get(key).and_then(Value::as_str).map(str::to_owned);
                let kind = text("type").unwrap_or_else(|| "String".into());
                if kind != "String" && kind != "StringList" {
                    return Err(format!("document {name}: parameter {pname} has type {kind}; Session documents use String or StringList"));
                }
                let allowed_pattern = text("allowedPattern");
                if let Some(pattern) = &allowed_pattern {
                    regex::Regex::new(pattern).map_err(|e| format!("document {name}: parameter {pname}: allowedPattern is not a regular expression: {e}"))?;
                }
                parameters.push(Parameter {
                    name: pname.clone(),
                    kind,
                    description: text("description").unwrap_or_default(),
                    default: text("default"),
                    allowed_pattern,
                });
            }
        }
        Ok(Document {
            name: name.to_owned(),
            owner: String::new(),
            content: content.to_owned(),
            session_type,
            description: value
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            parameters,
            properties: value.get("properties").cloned().unwrap_or(Value::Null),
        })
    }

    /// Checks StartSession's parameters and fills the properties template with them (and the
    /// defaults). The error is the message of a ValidationException.
    pub fn resolve(&self, given: &HashMap<String, Vec<String>>) -> Result<Value, String> {
        for key in given.keys() {
            if !self.parameters.iter().any(|p| &p.name == key) {
                let known: Vec<&str> = self.parameters.iter().map(|p| p.name.as_str()).collect();
                return Err(if known.is_empty() {
                    format!("document {} takes no parameters, but {key} was given", self.name)
                } else {
                    format!(
                        "document {} has no parameter {key}; it takes {}",
                        self.name,
                        known.join(", ")
                    )
                });
            }
        }
        let mut values = HashMap::new();
        for parameter in &self.parameters {
            let value: Vec<String> = match given.get(&parameter.name) {
                Some(list) => list.clone(),
                None => match &parameter.default {
                    Some(default) => vec![default.clone()],
                    None => {
                        return Err(format!(
                            "document {} requires the parameter {}",
                            self.name, parameter.name
                        ))
                    }
                },
            };
            if parameter.kind == "String" && value.len() != 1 {
                return Err(format!(
                    "parameter {} takes exactly one value, {} given",
                    parameter.name,
                    value.len()
                ));
            }
            if let Some(pattern) = &parameter.allowed_pattern {
                let regex = regex::Regex::new(pattern).map_err(|e| e.to_string())?;
                if let Some(bad) = value.iter().find(|v| !regex.is_match(v)) {
                    return Err(format!(
                        "parameter {} value {bad:?} does not match the allowed pattern {pattern}",
                        parameter.name
                    ));
                }
            }
            values.insert(parameter.name.as_str(), value);
        }
        Ok(substitute(&self.properties, &values))
    }
}

/// Replaces `{{ name }}` placeholders in every string of `template`.
fn substitute(template: &Value, values: &HashMap<&str, Vec<String>>) -> Value {
    match template {
        Value::String(text) => {
            let mut out = String::new();
            let mut rest = text.as_str();
            while let Some(start) = rest.find("{{") {
                let Some(len) = rest[start..].find("}}") else { break };
                let name = rest[start + 2..start + len].trim();
                out.push_str(&rest[..start]);
                match values.get(name) {
                    Some(value) => out.push_str(&value.join(",")),
                    None => out.push_str(&rest[start..start + len + 2]),
                }
                rest = &rest[start + len + 2..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, values)).collect()),
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| (k.clone(), substitute(v, values))).collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

/// The documents AWS provides, with the content SSM holds for them.
pub fn standard(preferences: &crate::fleet::Preferences) -> Vec<Document> {
    let port =
        |d: &str| json!({"type": "String", "description": d, "allowedPattern": PORT_PATTERN});
    let command_properties = json!({
        "linux": {"commands": "{{ command }}", "runAsElevated": false},
        "windows": {"commands": "{{ command }}", "runAsElevated": false},
        "macos": {"commands": "{{ command }}", "runAsElevated": false}
    });
    let command_parameter = json!({"command": {"type": "String", "description": "(Required) The command to run on the node."}});
    let mut local = port("(Optional) Port number on local machine to forward traffic to. An open port is chosen at run-time if not provided");
    local["allowedPattern"] = json!(LOCAL_PORT_PATTERN);
    local["default"] = json!("0");
    let with_default = |mut v: Value, d: &str| {
        v["default"] = json!(d);
        v
    };
    let documents = [
        (
            "SSM-SessionManagerRunShell",
            json!({"schemaVersion": "1.0", "description": "Document to hold regional settings for Session Manager", "sessionType": "Standard_Stream",
                   "inputs": {"s3BucketName": "", "s3KeyPrefix": "", "s3EncryptionEnabled": true, "cloudWatchLogGroupName": "", "cloudWatchEncryptionEnabled": true,
                              "idleSessionTimeout": preferences.idle_session_timeout, "maxSessionDuration": preferences.max_session_duration,
                              "kmsKeyId": preferences.kms_key_id, "runAsEnabled": preferences.run_as_enabled, "runAsDefaultUser": preferences.run_as_default_user,
                              "shellProfile": {"windows": preferences.shell_profile.windows, "linux": preferences.shell_profile.linux}}}),
        ),
        (
            "AWS-StartPortForwardingSession",
            json!({"schemaVersion": "1.0", "description": "Document to start port forwarding session over Session Manager", "sessionType": "Port",
                   "parameters": {"portNumber": with_default(port("(Optional) Port number of the server on the instance"), "80"), "localPortNumber": local.clone()},
                   "properties": {"portNumber": "{{ portNumber }}", "type": "LocalPortForwarding", "localPortNumber": "{{ localPortNumber }}"}}),
        ),
        (
            "AWS-StartPortForwardingSessionToRemoteHost",
            json!({"schemaVersion": "1.0", "description": "Document to start port forwarding session over Session Manager to a remote host", "sessionType": "Port",
                   "parameters": {"host": {"type": "String", "description": "(Required) The hostname or IP address of the destination server", "allowedPattern": "^[^']+$"},
                                  "portNumber": with_default(port("(Optional) Port number of the server on the remote host"), "80"), "localPortNumber": local},
                   "properties": {"host": "{{ host }}", "portNumber": "{{ portNumber }}", "type": "LocalPortForwarding", "localPortNumber": "{{ localPortNumber }}"}}),
        ),
        (
            "AWS-StartSSHSession",
            json!({"schemaVersion": "1.0", "description": "Document to start SSH session over Session Manager", "sessionType": "Port",
                   "parameters": {"portNumber": with_default(port("(Optional) Port number of SSH server on the instance"), "22")},
                   "properties": {"portNumber": "{{ portNumber }}"}}),
        ),
        (
            "AWS-StartInteractiveCommand",
            json!({"schemaVersion": "1.0", "description": "Document to run a single interactive command on an instance", "sessionType": "InteractiveCommands",
                   "parameters": command_parameter.clone(), "properties": command_properties.clone()}),
        ),
        (
            "AWS-StartNonInteractiveCommand",
            json!({"schemaVersion": "1.0", "description": "Document to run a single non-interactive command on an instance", "sessionType": "NonInteractiveCommands",
                   "parameters": command_parameter, "properties": command_properties}),
        ),
    ];
    documents
        .into_iter()
        .map(|(name, content)| {
            let mut document = Document::parse(name, &content.to_string())
                .expect("the standard documents are valid");
            document.owner = "Amazon".into();
            document
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(name: &str) -> Document {
        standard(&crate::fleet::Preferences::default())
            .into_iter()
            .find(|d| d.name == name)
            .unwrap()
    }

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
        pairs.iter().map(|(k, v)| ((*k).into(), vec![(*v).into()])).collect()
    }

    #[test]
    fn port_documents_resolve_to_the_properties_the_agent_expects() {
        let properties = find("AWS-StartPortForwardingSession")
            .resolve(&params(&[("portNumber", "5432")]))
            .unwrap();
        assert_eq!(
            properties,
            json!({"portNumber": "5432", "type": "LocalPortForwarding", "localPortNumber": "0"})
        );
        let remote = find("AWS-StartPortForwardingSessionToRemoteHost")
            .resolve(&params(&[("host", "db.internal"), ("portNumber", "3306")]))
            .unwrap();
        assert_eq!(remote["host"], "db.internal");
        assert_eq!(remote["portNumber"], "3306");
        let ssh = find("AWS-StartSSHSession").resolve(&HashMap::new()).unwrap();
        assert_eq!(ssh, json!({"portNumber": "22"}));
        let command =
            find("AWS-StartInteractiveCommand").resolve(&params(&[("command", "top")])).unwrap();
        assert_eq!(command["linux"]["commands"], "top");
        assert_eq!(
            find("SSM-SessionManagerRunShell").resolve(&HashMap::new()).unwrap(),
            Value::Null
        );
    }

    #[test]
    fn bad_parameters_are_refused_with_a_reason() {
        let port = find("AWS-StartPortForwardingSession");
        assert!(port
            .resolve(&params(&[("portNumber", "0")]))
            .unwrap_err()
            .contains("allowed pattern"));
        assert!(port
            .resolve(&params(&[("portNumber", "65536")]))
            .unwrap_err()
            .contains("allowed pattern"));
        assert!(port
            .resolve(&params(&[("port", "80")]))
            .unwrap_err()
            .contains("no parameter port"));
        let two: HashMap<String, Vec<String>> =
            [("portNumber".to_owned(), vec!["1".to_owned(), "2".to_owned()])].into();
        assert!(port.resolve(&two).unwrap_err().contains("exactly one"));
        assert!(find("AWS-StartPortForwardingSessionToRemoteHost")
            .resolve(&HashMap::new())
            .unwrap_err()
            .contains("requires the parameter host"));
        assert!(find("SSM-SessionManagerRunShell")
            .resolve(&params(&[("x", "1")]))
            .unwrap_err()
            .contains("takes no parameters"));
    }
}
