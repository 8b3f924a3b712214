//! The `runCmds` request and the meaning of its error replies.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Command, EapiError, ErrorCode};

/// Output format of a `runCmds` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Text,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Text => "text",
        }
    }
}

/// The `params` object of `runCmds`.
pub(crate) fn params(cmds: &[Command], format: Format) -> Value {
    json!({"version": 1, "cmds": cmds, "format": format.as_str()})
}

/// A whole JSON-RPC request (the unix-socket path builds its own body;
/// jsonrpsee does it for HTTP).
pub(crate) fn request_body(id: u64, cmds: &[Command], format: Format) -> Value {
    json!({"jsonrpc": "2.0", "method": "runCmds", "params": params(cmds, format), "id": id.to_string()})
}

#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error: Option<ReplyError>,
}

#[derive(Deserialize)]
struct ReplyError {
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    data: Option<Value>,
}

/// Interprets a JSON-RPC reply body.
pub(crate) fn parse_reply(
    body: &[u8],
    cmds: &[Command],
    endpoint: &str,
) -> Result<Vec<Value>, EapiError> {
    let malformed = |reason: String| EapiError::MalformedReply {
        endpoint: endpoint.to_string(),
        commands: names(cmds),
        reason,
    };
    let reply: Reply = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    match (reply.result, reply.error) {
        (_, Some(err)) => Err(command_error(
            err.code,
            &err.message,
            err.data.as_ref(),
            cmds,
        )),
        (Some(result), None) => results(result, cmds).map_err(malformed),
        (None, None) => Err(malformed("neither `result` nor `error`".into())),
    }
}

/// Checks that `result` is one entry per command.
pub(crate) fn results(result: Value, cmds: &[Command]) -> Result<Vec<Value>, String> {
    match result {
        Value::Array(items) if items.len() == cmds.len() => Ok(items),
        Value::Array(items) => Err(format!(
            "{} results for {} commands",
            items.len(),
            cmds.len()
        )),
        other => Err(format!("`result` is not a list: {}", kind(&other))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Builds the error for a JSON-RPC error object. EOS's `data` is a list with
/// the result of each command that ran, the last one being the failing
/// command's `{"errors": [...]}`: its position names the command.
pub(crate) fn command_error(
    code: i64,
    message: &str,
    data: Option<&Value>,
    cmds: &[Command],
) -> EapiError {
    let entries: Vec<Value> = match data {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    let failed_index = if entries.is_empty() {
        index_from_message(message)
    } else {
        Some(entries.len() - 1)
    };
    let command = failed_index
        .and_then(|i| cmds.get(i))
        .map(|c| c.cmd.clone())
        .unwrap_or_else(|| names(cmds).join(", "));
    let mut partial_results = entries;
    let details = match partial_results.pop() {
        Some(Value::Object(last)) => match last.get("errors") {
            Some(Value::Array(errors)) => errors
                .iter()
                .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string))
                .collect(),
            _ => {
                // Not an error entry: it was a result after all.
                partial_results.push(Value::Object(last));
                Vec::new()
            }
        },
        Some(other) => {
            partial_results.push(other);
            Vec::new()
        }
        None => Vec::new(),
    };
    EapiError::Command {
        code: ErrorCode::from_code(code),
        command,
        message: message.to_string(),
        details,
        partial_results,
    }
}

/// "CLI command 2 of 3 'foo' failed: ..." -> Some(1).
fn index_from_message(message: &str) -> Option<usize> {
    let rest = message.strip_prefix("CLI command ")?;
    let n: usize = rest.split_whitespace().next()?.parse().ok()?;
    n.checked_sub(1)
}

pub(crate) fn names(cmds: &[Command]) -> Vec<String> {
    cmds.iter().map(|c| c.cmd.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmds(list: &[&str]) -> Vec<Command> {
        list.iter().map(|c| Command::new(*c)).collect()
    }

    #[test]
    fn real_error_reply_names_the_command_and_reason() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/error_could_not_run.json"
        ))
        .unwrap();
        let err = parse_reply(&body, &cmds(&["show bgp summary"]), "test").unwrap_err();
        match err {
            EapiError::Command {
                code,
                command,
                details,
                partial_results,
                ..
            } => {
                assert_eq!(code, ErrorCode::CouldNotRun);
                assert_eq!(command, "show bgp summary");
                assert_eq!(details, vec!["BGP inactive".to_string()]);
                assert!(partial_results.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn failing_command_is_found_from_data_position() {
        let body = json!({"jsonrpc": "2.0", "id": "1", "error": {"code": 1002,
            "message": "CLI command 2 of 3 'bogus' failed: invalid command",
            "data": [{}, {"errors": ["Invalid input (at token 0: 'bogus')"]}]}});
        let err = parse_reply(
            body.to_string().as_bytes(),
            &cmds(&["enable", "bogus", "show version"]),
            "t",
        )
        .unwrap_err();
        let EapiError::Command {
            code,
            command,
            partial_results,
            ..
        } = err
        else {
            panic!()
        };
        assert_eq!(code, ErrorCode::InvalidCommand);
        assert_eq!(command, "bogus");
        assert_eq!(partial_results, vec![json!({})]);
    }

    #[test]
    fn failing_command_is_found_from_message_without_data() {
        let body = json!({"jsonrpc": "2.0", "id": "1", "error": {"code": 1005,
            "message": "CLI command 2 of 2 'configure' failed: permission to run command denied"}});
        let err = parse_reply(
            body.to_string().as_bytes(),
            &cmds(&["enable", "configure"]),
            "t",
        )
        .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::Unauthorized));
        assert!(err.to_string().contains("\"configure\""), "{err}");
    }

    #[test]
    fn wrong_result_count_and_garbage_are_malformed() {
        let body = json!({"jsonrpc": "2.0", "id": "1", "result": [{}]});
        let err = parse_reply(body.to_string().as_bytes(), &cmds(&["a", "b"]), "t").unwrap_err();
        assert!(matches!(err, EapiError::MalformedReply { .. }), "{err:?}");
        let err = parse_reply(b"{not json", &cmds(&["a"]), "t").unwrap_err();
        assert!(matches!(err, EapiError::MalformedReply { .. }), "{err:?}");
    }

    #[test]
    fn protocol_codes_are_typed() {
        assert_eq!(ErrorCode::from_code(-32600), ErrorCode::Protocol(-32600));
        assert_eq!(ErrorCode::from_code(-32601).code(), -32601);
        assert_eq!(ErrorCode::from_code(1003), ErrorCode::NoJsonOutput);
    }
}
