//! The EC2 Query API (form-encoded `Action=DescribeInstances`), answering in EC2's XML shape:
//! reservations of instances with state, private address, platform and tags; and
//! GetPasswordData, a Windows instance's encrypted administrator password. On-premises
//! (`mi-`) nodes are not EC2 instances and never appear here.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::fleet::NodeSpec;
use crate::service::{ApiError, Service};
use crate::sigv4::Caller;

/// EC2's XML namespace for API version 2016-11-15.
const NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// Runs the action in the form `body`; returns the XML document.
pub fn call(
    service: &Service,
    caller: &Caller,
    form: &[(String, String)],
    request_id: &str,
) -> Result<String, ApiError> {
    let action =
        form.iter().find(|(k, _)| k == "Action").map(|(_, v)| v.as_str()).unwrap_or_default();
    if !action.is_empty() {
        let permission = format!("ec2:{action}");
        if !caller.allows(&permission) {
            return Err(ApiError {
                code: "UnauthorizedOperation",
                message: format!(
                    "You are not authorized to perform this operation. {}",
                    caller.refusal(&permission, None)
                ),
                status: 403,
            });
        }
        // DryRun asks only whether the call would be allowed.
        if form.iter().any(|(k, v)| k == "DryRun" && v == "true") {
            return Err(ApiError {
                code: "DryRunOperation",
                message: "Request would have succeeded, but DryRun flag is set.".into(),
                status: 412,
            });
        }
    }
    match action {
        "DescribeInstances" => describe_instances(service, form, request_id),
        "GetPasswordData" => get_password_data(service, form, request_id),
        "" => {
            Err(ApiError::client("MissingAction", "The request must contain the parameter Action."))
        }
        other => Err(ApiError::client(
            "InvalidAction",
            format!("The action {other} is not valid for this web service."),
        )),
    }
}

/// GetPasswordData: the Windows administrator password, encrypted to the public key of the
/// instance's key pair (RSA, PKCS #1 v1.5) and base64-encoded, as EC2 gives it; empty for an
/// instance that has none (Linux, or Windows before it has set one).
fn get_password_data(
    service: &Service,
    form: &[(String, String)],
    request_id: &str,
) -> Result<String, ApiError> {
    let id =
        form.iter().find(|(k, _)| k == "InstanceId").map(|(_, v)| v.as_str()).ok_or_else(|| {
            ApiError::client(
                "MissingParameter",
                "The request must contain the parameter InstanceId",
            )
        })?;
    if !crate::fleet::valid_node_id(id) || id.starts_with("mi-") {
        return Err(ApiError::client(
            "InvalidInstanceID.Malformed",
            format!("Invalid id: \"{id}\""),
        ));
    }
    let nodes = service.nodes();
    let node = nodes.iter().find(|n| n.id == id).ok_or_else(|| {
        ApiError::client(
            "InvalidInstanceID.NotFound",
            format!("The instance ID '{id}' does not exist"),
        )
    })?;
    let data = node.windows_password.as_ref().map(|p| p.encrypted()).unwrap_or_default();
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<GetPasswordDataResponse xmlns=\"{NAMESPACE}\">\n\
         <requestId>{request_id}</requestId>\n<instanceId>{}</instanceId>\n\
         <timestamp>2026-01-05T09:34:00.000Z</timestamp>\n<passwordData>{data}</passwordData>\n\
         </GetPasswordDataResponse>\n",
        escape(id)
    ))
}

/// Collects `Prefix.N` (and `Prefix.N.Sub.M`) members into ordered lists.
fn indexed<'a>(
    form: &'a [(String, String)],
    prefix: &str,
) -> BTreeMap<u32, Vec<(&'a str, &'a str)>> {
    let mut out: BTreeMap<u32, Vec<(&str, &str)>> = BTreeMap::new();
    for (key, value) in form {
        let Some(rest) = key.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        let (index, sub) = rest.split_once('.').unwrap_or((rest, ""));
        if let Ok(index) = index.parse() {
            out.entry(index).or_default().push((sub, value.as_str()));
        }
    }
    out
}

fn describe_instances(
    service: &Service,
    form: &[(String, String)],
    request_id: &str,
) -> Result<String, ApiError> {
    let param = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let ids: Vec<&str> = indexed(form, "InstanceId")
        .into_values()
        .flat_map(|v| v.into_iter().map(|(_, id)| id))
        .collect();
    let mut filters: Vec<(&str, Vec<&str>)> = Vec::new();
    for (_, members) in indexed(form, "Filter") {
        let name = members.iter().find(|(k, _)| *k == "Name").map(|(_, v)| *v).unwrap_or_default();
        let values: Vec<&str> =
            members.iter().filter(|(k, _)| k.starts_with("Value.")).map(|(_, v)| *v).collect();
        let known =
            ["instance-id", "instance-state-name", "private-ip-address", "platform", "tag-key"];
        if !known.contains(&name) && !name.starts_with("tag:") {
            return Err(ApiError::client(
                "InvalidParameterValue",
                format!("The filter '{name}' is invalid"),
            ));
        }
        filters.push((name, values));
    }
    let max_results = match param("MaxResults") {
        None => None,
        Some(text) => {
            if !ids.is_empty() {
                return Err(ApiError::client(
                    "InvalidParameterCombination",
                    "The parameter instancesSet cannot be used with the parameter maxResults",
                ));
            }
            let n: usize = text.parse().map_err(|_| {
                ApiError::client(
                    "InvalidParameterValue",
                    format!("Invalid value '{text}' for maxResults"),
                )
            })?;
            if !(5..=1000).contains(&n) {
                return Err(ApiError::client("InvalidParameterValue", format!("Value ( {n} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.")));
            }
            Some(n)
        }
    };
    let offset = match param("NextToken") {
        None => 0,
        Some(token) => {
            token.strip_prefix("eyJ2IjoiMiIsImMiOi").and_then(|n| n.parse().ok()).ok_or_else(
                || ApiError::client("InvalidParameterValue", "Invalid value for NextToken"),
            )?
        }
    };
    let instances: Vec<&NodeSpec> =
        service.nodes().iter().filter(|n| n.id.starts_with("i-")).collect();
    for id in &ids {
        if !crate::fleet::valid_node_id(id) || id.starts_with("mi-") {
            return Err(ApiError::client(
                "InvalidInstanceID.Malformed",
                format!("Invalid id: \"{id}\""),
            ));
        }
        if !instances.iter().any(|n| n.id == *id) {
            return Err(ApiError::client(
                "InvalidInstanceID.NotFound",
                format!("The instance ID '{id}' does not exist"),
            ));
        }
    }
    let selected: Vec<&NodeSpec> = instances
        .into_iter()
        .filter(|n| ids.is_empty() || ids.contains(&n.id.as_str()))
        .filter(|n| filters.iter().all(|(name, values)| filter_matches(n, name, values)))
        .collect();
    let end = max_results.map_or(selected.len(), |m| (offset + m).min(selected.len()));
    let page = selected.get(offset.min(end)..end).unwrap_or_default();

    let mut xml = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeInstancesResponse xmlns=\"{NAMESPACE}\">\n<requestId>{request_id}</requestId>\n<reservationSet>\n");
    for node in page {
        write_reservation(&mut xml, service.account(), service.region(), node);
    }
    xml.push_str("</reservationSet>\n");
    if end < selected.len() {
        let _ = writeln!(xml, "<nextToken>eyJ2IjoiMiIsImMiOi{end}</nextToken>");
    }
    xml.push_str("</DescribeInstancesResponse>\n");
    Ok(xml)
}

fn filter_matches(node: &NodeSpec, name: &str, values: &[&str]) -> bool {
    let any = |field: &str| values.iter().any(|v| glob(v, field));
    match name {
        "instance-id" => any(&node.id),
        "instance-state-name" => any(&node.state),
        "private-ip-address" => any(&node.ip),
        "platform" => node.platform == "Windows" && any("windows"),
        "tag-key" => any("Name") || node.tags.keys().any(|k| any(k)),
        tag => {
            let key = tag.trim_start_matches("tag:");
            let value = if key == "Name" { Some(&node.name) } else { node.tags.get(key) };
            value.is_some_and(|v| any(v))
        }
    }
}

/// EC2 filter values allow `*` and `?` wildcards.
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn write_reservation(xml: &mut String, account: &str, region: &str, node: &NodeSpec) {
    let (code, state) = match node.state.as_str() {
        "pending" => (0, "pending"),
        "running" => (16, "running"),
        "shutting-down" => (32, "shutting-down"),
        "terminated" => (48, "terminated"),
        "stopping" => (64, "stopping"),
        _ => (80, "stopped"),
    };
    let suffix = &node.id[2..];
    let _ = write!(
        xml,
        "<item>\n<reservationId>r-{suffix}</reservationId>\n<ownerId>{account}</ownerId>\n<groupSet/>\n<instancesSet>\n<item>\n\
         <instanceId>{id}</instanceId>\n<imageId>ami-0{suffix8}</imageId>\n<instanceState><code>{code}</code><name>{state}</name></instanceState>\n\
         <privateDnsName>ip-{dashed}.ec2.internal</privateDnsName>\n<dnsName/>\n<instanceType>t3.micro</instanceType>\n\
         <launchTime>2026-01-05T09:30:00.000Z</launchTime>\n<placement><availabilityZone>{region}a</availabilityZone><tenancy>default</tenancy></placement>\n",
        id = escape(&node.id),
        suffix8 = &suffix[..suffix.len().min(8)],
        dashed = node.ip.replace('.', "-"),
    );
    if node.platform == "Windows" {
        xml.push_str("<platform>windows</platform>\n<platformDetails>Windows</platformDetails>\n");
    } else {
        xml.push_str("<platformDetails>Linux/UNIX</platformDetails>\n");
    }
    let _ = write!(xml, "<privateIpAddress>{}</privateIpAddress>\n<tagSet>\n<item><key>Name</key><value>{}</value></item>\n", escape(&node.ip), escape(&node.name));
    for (key, value) in &node.tags {
        let _ = writeln!(
            xml,
            "<item><key>{}</key><value>{}</value></item>",
            escape(key),
            escape(value)
        );
    }
    xml.push_str("</tagSet>\n</item>\n</instancesSet>\n</item>\n");
}

/// The EC2 error document.
pub fn error_xml(code: &str, message: &str, request_id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>\n",
        escape(code),
        escape(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_accept_wildcards() {
        assert!(glob("web-*", "web-1"));
        assert!(glob("?eb-1", "web-1"));
        assert!(!glob("web-?", "web-10"));
        assert!(glob("*", ""));
    }

    #[test]
    fn indexed_members_group_by_number() {
        let form: Vec<(String, String)> = [
            ("Filter.1.Name", "tag:env"),
            ("Filter.1.Value.1", "prod"),
            ("Filter.2.Name", "instance-id"),
            ("Filter.1.Value.2", "dev"),
        ]
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
        let groups = indexed(&form, "Filter");
        assert_eq!(groups[&1], vec![("Name", "tag:env"), ("Value.1", "prod"), ("Value.2", "dev")]);
        assert_eq!(groups[&2], vec![("Name", "instance-id")]);
    }
}
