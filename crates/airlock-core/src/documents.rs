//! Session documents: the ones the account can start (ListDocuments, every page, type
//! `Session`), and one document's session type and typed parameters (GetDocument as JSON), so a
//! front end can offer any document with a form that checks values before StartSession does.

use std::collections::HashMap;

use serde::Serialize;

use crate::aws::{Aws, AwsError};

/// A Session document the account can start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct SessionDocument {
    /// Its name (or ARN for shared documents).
    pub name: String,
    /// `Amazon`, or the account that owns it.
    pub owner: String,
}

/// What a document starts and what it asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct DocumentDetails {
    /// Its name.
    pub name: String,
    /// `Standard_Stream`, `InteractiveCommands`, `NonInteractiveCommands` or `Port`.
    pub session_type: String,
    /// The document's own description.
    pub description: String,
    /// Its parameters, by name.
    pub parameters: Vec<DocumentParameter>,
}

/// One parameter of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct DocumentParameter {
    /// Its name.
    pub name: String,
    /// `String`, `StringList`, `Integer`, `Boolean` or `StringMap`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What it is for.
    pub description: String,
    /// The value used when none is given; `None` makes the parameter required.
    pub default: Option<String>,
    /// The only values allowed, when the document lists them.
    pub allowed_values: Vec<String>,
    /// A regular expression values must match, when the document gives one.
    pub allowed_pattern: Option<String>,
}

impl DocumentDetails {
    /// Reads a document's JSON content (schema 1.0 Session documents).
    pub fn from_content(name: &str, content: &str) -> Result<DocumentDetails, AwsError> {
        let value: serde_json::Value =
            serde_json::from_str(content).map_err(|e| AwsError::Service {
                service: "SSM",
                code: "InvalidDocumentContent".into(),
                message: format!("the content of {name} is not JSON: {e}"),
                status: None,
            })?;
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        let mut parameters = Vec::new();
        if let Some(map) = value.get("parameters").and_then(|p| p.as_object()) {
            for (name, spec) in map {
                parameters.push(DocumentParameter {
                    name: name.clone(),
                    kind: spec.get("type").map(text).unwrap_or_else(|| "String".into()),
                    description: spec.get("description").map(text).unwrap_or_default(),
                    default: spec.get("default").map(text),
                    allowed_values: spec
                        .get("allowedValues")
                        .and_then(|v| v.as_array())
                        .map(|a| a.iter().map(text).collect())
                        .unwrap_or_default(),
                    allowed_pattern: spec.get("allowedPattern").map(text).filter(|p| !p.is_empty()),
                });
            }
        }
        Ok(DocumentDetails {
            name: name.to_owned(),
            session_type: value.get("sessionType").map(text).unwrap_or_default(),
            description: value.get("description").map(text).unwrap_or_default(),
            parameters,
        })
    }

    /// The parameters as StartSession wants them: every given value, `StringList` values
    /// split on new lines, empty values left out so the document's default applies.
    pub fn start_parameters(
        &self,
        given: &HashMap<String, String>,
    ) -> HashMap<String, Vec<String>> {
        let mut out = HashMap::new();
        for parameter in &self.parameters {
            let Some(value) =
                given.get(&parameter.name).map(|v| v.trim()).filter(|v| !v.is_empty())
            else {
                continue;
            };
            let values = if parameter.kind == "StringList" {
                value.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
            } else {
                vec![value.to_owned()]
            };
            out.insert(parameter.name.clone(), values);
        }
        out
    }
}

impl Aws {
    /// Every Session document of the account and region, Amazon's first.
    pub async fn list_session_documents(&self) -> Result<Vec<SessionDocument>, AwsError> {
        self.refreshing(|| self.list_session_documents_once()).await
    }

    async fn list_session_documents_once(&self) -> Result<Vec<SessionDocument>, AwsError> {
        let filter = aws_sdk_ssm::types::DocumentKeyValuesFilter::builder()
            .key("DocumentType")
            .values("Session")
            .build();
        let mut pages =
            self.ssm.list_documents().filters(filter).max_results(50).into_paginator().send();
        let mut documents = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                crate::aws::classify(e, crate::aws::Call::new("ssm:ListDocuments"), self.network())
            })?;
            for identifier in page.document_identifiers.unwrap_or_default() {
                if let Some(name) = identifier.name {
                    documents.push(SessionDocument {
                        name,
                        owner: identifier.owner.unwrap_or_default(),
                    });
                }
            }
        }
        documents.sort_by(|a, b| {
            (a.owner != "Amazon").cmp(&(b.owner != "Amazon")).then_with(|| a.name.cmp(&b.name))
        });
        Ok(documents)
    }

    /// A document's session type and parameters.
    pub async fn document_details(&self, name: &str) -> Result<DocumentDetails, AwsError> {
        self.refreshing(|| self.document_details_once(name)).await
    }

    async fn document_details_once(&self, name: &str) -> Result<DocumentDetails, AwsError> {
        let output = self
            .ssm
            .get_document()
            .name(name)
            .document_format(aws_sdk_ssm::types::DocumentFormat::Json)
            .send()
            .await
            .map_err(|e| {
                crate::aws::classify(
                    e,
                    crate::aws::Call { action: "ssm:GetDocument", target: "", document: name },
                    self.network(),
                )
            })?;
        let content = output.content.ok_or(AwsError::Incomplete("Content"))?;
        DocumentDetails::from_content(name, &content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REMOTE_HOST: &str = r#"{
      "schemaVersion": "1.0",
      "description": "Forward a port through the node",
      "sessionType": "Port",
      "parameters": {
        "host": {"type": "String", "description": "The remote host", "allowedPattern": "^[a-z0-9.-]+$"},
        "portNumber": {"type": "String", "default": "80"},
        "hosts": {"type": "StringList", "default": []},
        "mode": {"type": "String", "default": "fast", "allowedValues": ["fast", "safe"]}
      },
      "properties": {"host": "{{ host }}", "portNumber": "{{ portNumber }}", "type": "LocalPortForwarding"}
    }"#;

    #[test]
    fn a_document_tells_its_session_type_and_typed_parameters() {
        let details = DocumentDetails::from_content("Remote", REMOTE_HOST).unwrap();
        assert_eq!(details.session_type, "Port");
        assert_eq!(details.description, "Forward a port through the node");
        let host = details.parameters.iter().find(|p| p.name == "host").unwrap();
        assert_eq!(
            (host.default.as_deref(), host.allowed_pattern.as_deref()),
            (None, Some("^[a-z0-9.-]+$")),
            "no default: required"
        );
        let mode = details.parameters.iter().find(|p| p.name == "mode").unwrap();
        assert_eq!(mode.allowed_values, ["fast", "safe"]);
        let hosts = details.parameters.iter().find(|p| p.name == "hosts").unwrap();
        assert_eq!(hosts.default.as_deref(), Some("[]"));

        let given = HashMap::from([
            ("host".to_owned(), " db.internal ".to_owned()),
            ("portNumber".to_owned(), String::new()),
            ("hosts".to_owned(), "a\n\n b\n".to_owned()),
        ]);
        let parameters = details.start_parameters(&given);
        assert_eq!(parameters["host"], ["db.internal"]);
        assert!(
            !parameters.contains_key("portNumber"),
            "an empty value leaves the default to the service"
        );
        assert_eq!(parameters["hosts"], ["a", "b"], "a list is one value per line");
    }

    #[test]
    fn content_that_is_not_json_is_an_error_not_a_panic() {
        assert!(DocumentDetails::from_content("x", "sessionType: Port").is_err());
    }
}
