//! JSON-RPC 2.0 `runCmds`: request validation and reply shapes.

use serde_json::{Value, json};

use crate::cli_engine::{BatchFailure, CmdInput, Format, Session};
use crate::faults::Faults;
use crate::sim::Sim;

/// A JSON-RPC error before any command ran.
struct RequestError {
    code: i64,
    message: String,
}

fn request_error(code: i64, message: impl Into<String>) -> RequestError {
    RequestError {
        code,
        message: message.into(),
    }
}

struct Request {
    id: Value,
    cmds: Vec<CmdInput>,
    format: Format,
}

fn parse(body: &[u8]) -> Result<Request, (Value, RequestError)> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        (
            Value::Null,
            request_error(-32700, format!("Parse error: {e}")),
        )
    })?;
    let id = v.get("id").cloned().unwrap_or(Value::Null);
    let fail = |code, msg: String| (id.clone(), request_error(code, msg));
    if v.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(fail(
            -32600,
            "Invalid request: jsonrpc must be \"2.0\"".into(),
        ));
    }
    match v.get("method").and_then(Value::as_str) {
        Some("runCmds") => {}
        Some(other) => return Err(fail(-32601, format!("Method not found: {other}"))),
        None => return Err(fail(-32600, "Invalid request: no method".into())),
    }
    let params = v
        .get("params")
        .ok_or_else(|| fail(-32602, "Invalid params: missing".into()))?;
    let by_name;
    let params = match params {
        // Positional, as jsonrpclib sends them: runCmds(version, cmds, format, ...).
        Value::Array(list) => {
            let mut o = serde_json::Map::new();
            for (name, value) in ["version", "cmds", "format"].iter().zip(list) {
                o.insert((*name).to_string(), value.clone());
            }
            by_name = Value::Object(o);
            &by_name
        }
        other => other,
    };
    match params.get("version") {
        None => {}
        Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
        Some(Value::String(s)) if s == "latest" || s == "1" => {}
        Some(other) => {
            return Err(fail(
                -32602,
                format!("Invalid params: unsupported version {other}"),
            ));
        }
    }
    let format = match params.get("format").and_then(Value::as_str) {
        None | Some("json") => Format::Json,
        Some("text") => Format::Text,
        Some(other) => {
            return Err(fail(
                -32602,
                format!("Invalid params: unknown format {other:?}"),
            ));
        }
    };
    let Some(list) = params.get("cmds").and_then(Value::as_array) else {
        return Err(fail(-32602, "Invalid params: cmds must be a list".into()));
    };
    let mut cmds = Vec::with_capacity(list.len());
    for c in list {
        let cmd = match c {
            Value::String(s) => CmdInput {
                cmd: s.clone(),
                input: None,
            },
            Value::Object(o) => match o.get("cmd").and_then(Value::as_str) {
                Some(cmd) => CmdInput {
                    cmd: cmd.to_string(),
                    input: o.get("input").and_then(Value::as_str).map(str::to_string),
                },
                None => {
                    return Err(fail(
                        -32602,
                        "Invalid params: a command object needs \"cmd\"".into(),
                    ));
                }
            },
            _ => {
                return Err(fail(
                    -32602,
                    "Invalid params: commands are strings or objects".into(),
                ));
            }
        };
        cmds.push(cmd);
    }
    Ok(Request { id, cmds, format })
}

/// Answers one request body with a JSON-RPC reply body.
pub async fn answer(sim: &Sim, body: &[u8], faults: &Faults) -> Value {
    let request = match parse(body) {
        Ok(r) => r,
        Err((id, e)) => {
            return json!({"jsonrpc": "2.0", "id": id, "error": {"code": e.code, "message": e.message}});
        }
    };
    let mut session = Session::new(sim);
    match session.run_all(&request.cmds, request.format, faults).await {
        Ok(results) => json!({"jsonrpc": "2.0", "id": request.id, "result": results}),
        Err(BatchFailure {
            index,
            failure,
            mut done,
        }) => {
            let cmd = request
                .cmds
                .get(index)
                .map(|c| c.cmd.trim())
                .unwrap_or_default();
            tracing::info!(command = cmd, code = failure.code, "command failed");
            done.push(json!({"errors": failure.errors}));
            json!({
                "jsonrpc": "2.0",
                "id": request.id,
                "error": {
                    "code": failure.code,
                    "message": format!("CLI command {} of {} '{}' failed: {}", index + 1, request.cmds.len(), cmd, failure.summary),
                    "data": done,
                },
            })
        }
    }
}
