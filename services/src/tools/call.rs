//! Running tool calls: the permission check, argument checks, and dispatch.
//!
//! Every call goes through [`Tools::call`], in this order: the tool must exist; the
//! calling app must declare the permission of the tool's namespace; the arguments
//! must match the tool's schema (required present, nothing unknown); for `http.*`,
//! the URL's host must be one the app may reach. Only then does a tool run: `math.*`
//! and `ui.*` here, the rest through the [`ToolHost`].
//!
//! [`Tools::run`] runs an event's [`Binding`] in order. Strings in its arguments may
//! name values: `{{result}}` is the previous call's result and `{{some-id}}` the
//! current value of that component. A string that is just one placeholder takes the
//! value as it is (a number stays a number); inside longer text it is spliced in.

use serde_json::{Map, Number, Value, json};

use super::host::{HostError, HttpMethod, HttpRequest, LogLevel, ToolHost};
use super::math::{self, MathError};
use super::registry::ToolRegistry;
use super::ui::UiState;
use crate::blueprint::{Binding, Blueprint, Permission};

/// Who is calling: the app, what it declared, and where `http.*` may go.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    pub app_id: &'a str,
    pub permissions: &'a [Permission],
    /// `example.com` or `*.example.com` (any subdomain): the Blueprint's `app.hosts`
    /// or the app's current network grants, as the caller decides.
    pub hosts: &'a [String],
}

impl<'a> CallContext<'a> {
    /// The context a Blueprint declares for itself.
    pub fn for_blueprint(bp: &'a Blueprint) -> Self {
        CallContext {
            app_id: &bp.app.id,
            permissions: &bp.app.permissions,
            hosts: &bp.app.hosts,
        }
    }
}

/// Why a tool call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolError {
    #[error("unknown tool {tool:?}")]
    UnknownTool { tool: String },
    #[error("{tool} needs the {permission} permission, which the app does not declare")]
    PermissionDenied {
        tool: String,
        permission: Permission,
    },
    #[error("{tool}: {reason}")]
    InvalidArgs { tool: String, reason: String },
    #[error("{tool}: the app may not reach host {host:?}")]
    HostNotAllowed { tool: String, host: String },
    #[error("no component with id {id:?}")]
    UnknownComponent { id: String },
    #[error("component {id:?}: {prop} cannot take that value: {reason}")]
    InvalidValue {
        id: String,
        prop: String,
        reason: String,
    },
    #[error(transparent)]
    Math(#[from] MathError),
    #[error(transparent)]
    Host(#[from] HostError),
}

impl ToolError {
    /// A stable code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            ToolError::UnknownTool { .. } => "unknown_tool",
            ToolError::PermissionDenied { .. } => "permission_denied",
            ToolError::InvalidArgs { .. } => "invalid_args",
            ToolError::HostNotAllowed { .. } => "host_not_allowed",
            ToolError::UnknownComponent { .. } => "unknown_component",
            ToolError::InvalidValue { .. } => "invalid_value",
            ToolError::Math(MathError::DivisionByZero) => "division_by_zero",
            ToolError::Math(_) => "math_error",
            ToolError::Host(HostError::NotFound { .. }) => "not_found",
            ToolError::Host(HostError::Denied { .. }) => "denied",
            ToolError::Host(HostError::QuotaExceeded { .. }) => "quota_exceeded",
            ToolError::Host(HostError::Unavailable { .. }) => "unavailable",
        }
    }
}

/// The tool runner: the registry it checks against and the host it calls out to.
#[derive(Debug)]
pub struct Tools<H> {
    registry: &'static ToolRegistry,
    host: H,
}

impl<H: ToolHost> Tools<H> {
    /// A runner over the built-in tools.
    pub fn new(host: H) -> Self {
        Tools {
            registry: ToolRegistry::builtin(),
            host,
        }
    }

    pub fn registry(&self) -> &'static ToolRegistry {
        self.registry
    }

    pub fn host(&self) -> &H {
        &self.host
    }

    /// Runs what `bp` binds to `event` on `component` (a click, a change the desktop
    /// reports). `Ok(None)` when nothing is bound to that event.
    pub async fn on_event(
        &self,
        ctx: &CallContext<'_>,
        bp: &Blueprint,
        state: &mut UiState,
        component: &str,
        event: &str,
    ) -> Result<Option<Value>, ToolError> {
        let c = bp
            .component(component)
            .ok_or_else(|| ToolError::UnknownComponent {
                id: component.to_owned(),
            })?;
        match c.on_event.get(event) {
            Some(binding) => self.run(ctx, state, binding).await.map(Some),
            None => Ok(None),
        }
    }

    /// Runs an event's tool calls in order (see the module docs); returns the last result.
    pub async fn run(
        &self,
        ctx: &CallContext<'_>,
        state: &mut UiState,
        binding: &Binding,
    ) -> Result<Value, ToolError> {
        let mut result = Value::Null;
        for call in &binding.0 {
            let mut args = Map::with_capacity(call.args.len());
            for (k, v) in &call.args {
                args.insert(k.clone(), substitute(v, state, &result)?);
            }
            result = self.call(ctx, state, &call.tool, &args).await?;
        }
        Ok(result)
    }

    /// Runs one tool call (see the module docs for the checks).
    pub async fn call(
        &self,
        ctx: &CallContext<'_>,
        state: &mut UiState,
        tool: &str,
        args: &Map<String, Value>,
    ) -> Result<Value, ToolError> {
        let spec = self
            .registry
            .get(tool)
            .ok_or_else(|| ToolError::UnknownTool {
                tool: tool.to_owned(),
            })?;
        if let Some(p) = spec.permission
            && !ctx.permissions.contains(&p)
        {
            return Err(ToolError::PermissionDenied {
                tool: tool.to_owned(),
                permission: p,
            });
        }
        check_args(tool, &spec.args, args)?;
        let a = Args { tool, args };
        let app = ctx.app_id;
        let h = &self.host;
        Ok(match tool {
            "ui.set" => state.set(a.str("id")?, a.opt_str("prop")?, a.any("value"))?,
            "ui.get" => state.prop(a.str("id")?, a.opt_str("prop")?)?,
            "ui.append" => state.append(a.str("id")?, a.str("text")?)?,
            "ui.clear" => state.clear(a.str("id")?)?,
            "ui.toggle" => state.toggle(a.str("id")?, a.opt_str("prop")?)?,
            "ui.show" => state.set(a.str("id")?, Some("visible"), Value::Bool(true))?,
            "ui.hide" => state.set(a.str("id")?, Some("visible"), Value::Bool(false))?,
            "ui.enable" => state.set(a.str("id")?, Some("disabled"), Value::Bool(false))?,
            "ui.disable" => state.set(a.str("id")?, Some("disabled"), Value::Bool(true))?,
            "ui.add_item" => state.add_item(a.str("id")?, a.str("item")?)?,
            "ui.remove_item" => {
                let index = a.opt_index("index")?;
                state.remove_item(a.str("id")?, index, a.opt_str("item")?)?
            }
            "math.evaluate" => number(math::evaluate(a.str("expression")?)?),
            "math.sin" | "math.cos" | "math.tan" => {
                let x = a.num("x")?;
                let x = match a.opt_str("unit")? {
                    None | Some("rad") => x,
                    Some("deg") => x.to_radians(),
                    Some(other) => {
                        return Err(a.invalid(format!("unit must be rad or deg, not {other:?}")));
                    }
                };
                let v = match tool {
                    "math.sin" => x.sin(),
                    "math.cos" => x.cos(),
                    _ => x.tan(),
                };
                number(if v.is_finite() {
                    v
                } else {
                    return Err(MathError::Overflow.into());
                })
            }
            "math.mean" => number(math::mean(&a.numbers("values")?)?),
            "math.median" => number(math::median(&a.numbers("values")?)?),
            "math.stdev" => number(math::stdev(&a.numbers("values")?)?),
            "math.min" => number(math::min(&a.numbers("values")?)?),
            "math.max" => number(math::max(&a.numbers("values")?)?),
            "math.sum" => number(math::sum(&a.numbers("values")?)?),
            "math.constant" => {
                let name = a.str("name")?;
                let v = math::constant(name)
                    .ok_or_else(|| a.invalid(format!("no constant named {name:?}")))?;
                number(v)
            }
            "storage.get" => h
                .storage_get(app, a.str("key")?)
                .await?
                .unwrap_or(Value::Null),
            "storage.set" => {
                h.storage_set(app, a.str("key")?, a.any("value")).await?;
                Value::Bool(true)
            }
            "storage.delete" => Value::Bool(h.storage_delete(app, a.str("key")?).await?),
            "storage.list" => json!(
                h.storage_list(app, a.opt_str("prefix")?.unwrap_or(""))
                    .await?
            ),
            "fs.read" => Value::String(h.fs_read(app, a.str("path")?).await?),
            "fs.write" => {
                let content = a.str("content")?;
                let bytes = match a.opt_str("encoding")? {
                    None | Some("utf8") => content.as_bytes().to_vec(),
                    Some("base64") => {
                        use base64::Engine as _;
                        base64::engine::general_purpose::STANDARD
                            .decode(content)
                            .map_err(|e| a.invalid(format!("`content` is not base64: {e}")))?
                    }
                    Some(other) => {
                        return Err(
                            a.invalid(format!("unknown encoding {other:?}; `utf8` or `base64`"))
                        );
                    }
                };
                h.fs_write(app, a.str("path")?, &bytes).await?;
                Value::Bool(true)
            }
            "fs.search" => {
                let depth = a.opt_index("max_depth")?;
                let limit = a.opt_index("limit")?;
                let query = a.str("query")?;
                if query.trim().is_empty() {
                    return Err(a.invalid("`query` is empty: give a name or part of one".into()));
                }
                h.fs_search(
                    app,
                    a.opt_str("path")?.unwrap_or("/"),
                    query,
                    depth.unwrap_or(crate::providers::SEARCH_DEFAULT_DEPTH),
                    limit.unwrap_or(crate::providers::SEARCH_DEFAULT_RESULTS),
                )
                .await?
            }
            "fs.list" => json!(h.fs_list(app, a.str("path")?).await?),
            "fs.delete" => {
                h.fs_delete(app, a.str("path")?).await?;
                Value::Bool(true)
            }
            "fs.mkdir" => {
                h.fs_mkdir(app, a.str("path")?).await?;
                Value::Bool(true)
            }
            "fs.move" | "fs.rename" => {
                h.fs_move(app, a.str("from")?, a.str("to")?).await?;
                Value::Bool(true)
            }
            "fs.copy" => {
                h.fs_copy(app, a.str("from")?, a.str("to")?).await?;
                Value::Bool(true)
            }
            "fs.stat" => h.fs_stat(app, a.str("path")?).await?,
            "system.info" => h.system_info().await?,
            "system.time" => {
                let ms = h.now_unix_ms().await?;
                json!({"unix_ms": ms, "iso": rfc3339(ms)})
            }
            "system.log" => {
                let level = match a.opt_str("level")? {
                    None | Some("info") => LogLevel::Info,
                    Some("debug") => LogLevel::Debug,
                    Some("warn") => LogLevel::Warn,
                    Some("error") => LogLevel::Error,
                    Some(other) => return Err(a.invalid(format!("unknown level {other:?}"))),
                };
                h.system_log(app, level, a.str("message")?).await?;
                Value::Bool(true)
            }
            "app.launch" => Value::String(h.app_launch(app, a.str("app_id")?).await?),
            "app.close" => {
                h.app_close(app, a.str("app_id")?).await?;
                Value::Bool(true)
            }
            "app.focus" => {
                h.app_focus(app, a.str("app_id")?).await?;
                Value::Bool(true)
            }
            "http.get" | "http.post" => {
                let url = a.str("url")?;
                allowed_url(tool, url, ctx.hosts)?;
                let (method, body) = if tool == "http.get" {
                    (HttpMethod::Get, None)
                } else {
                    let body = match a.any("body") {
                        Value::Null => None,
                        Value::String(s) => Some(s),
                        other => Some(other.to_string()),
                    };
                    (HttpMethod::Post, body)
                };
                let content_type = a
                    .opt_str("content_type")?
                    .map(str::to_owned)
                    .or_else(|| body.as_ref().map(|_| "application/json".to_owned()));
                let request = HttpRequest {
                    method,
                    url: url.to_owned(),
                    content_type,
                    body,
                };
                let r = h.http(app, request).await?;
                json!({"status": r.status, "content_type": r.content_type, "body": r.body})
            }
            other => unreachable!("{other} is in the registry but has no implementation"),
        })
    }
}

/// A number as JSON: tidied to 15 digits, and whole numbers as integers (`42`, not `42.0`).
fn number(v: f64) -> Value {
    let v = math::tidy(v);
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        Value::Number(Number::from(v as i64))
    } else {
        Number::from_f64(v).map_or(Value::Null, Value::Number)
    }
}

fn check_args(tool: &str, schema: &Value, args: &Map<String, Value>) -> Result<(), ToolError> {
    let invalid = |reason: String| ToolError::InvalidArgs {
        tool: tool.to_owned(),
        reason,
    };
    let props = schema["properties"].as_object();
    for k in args.keys() {
        if !props.is_some_and(|p| p.contains_key(k)) {
            return Err(invalid(format!("unknown argument `{k}`")));
        }
    }
    for req in schema["required"].as_array().into_iter().flatten() {
        let req = req.as_str().unwrap_or_default();
        if !args.contains_key(req) {
            return Err(invalid(format!("missing argument `{req}`")));
        }
    }
    Ok(())
}

struct Args<'a> {
    tool: &'a str,
    args: &'a Map<String, Value>,
}

impl<'a> Args<'a> {
    fn invalid(&self, reason: String) -> ToolError {
        ToolError::InvalidArgs {
            tool: self.tool.to_owned(),
            reason,
        }
    }

    fn str(&self, k: &str) -> Result<&'a str, ToolError> {
        self.opt_str(k)?
            .ok_or_else(|| self.invalid(format!("missing argument `{k}`")))
    }

    fn opt_str(&self, k: &str) -> Result<Option<&'a str>, ToolError> {
        match self.args.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.invalid(format!("`{k}` must be a string"))),
        }
    }

    fn any(&self, k: &str) -> Value {
        self.args.get(k).cloned().unwrap_or(Value::Null)
    }

    fn num(&self, k: &str) -> Result<f64, ToolError> {
        match self.args.get(k) {
            Some(v) => as_number(v).ok_or_else(|| self.invalid(format!("`{k}` must be a number"))),
            None => Err(self.invalid(format!("missing argument `{k}`"))),
        }
    }

    fn opt_index(&self, k: &str) -> Result<Option<usize>, ToolError> {
        match self.args.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|n| Some(n as usize))
                .ok_or_else(|| self.invalid(format!("`{k}` must be a whole number of at least 0"))),
        }
    }

    /// A list of numbers; numeric strings count (values read from inputs are text).
    fn numbers(&self, k: &str) -> Result<Vec<f64>, ToolError> {
        let list = match self.args.get(k) {
            Some(Value::Array(a)) => a,
            _ => return Err(self.invalid(format!("`{k}` must be a list of numbers"))),
        };
        list.iter()
            .enumerate()
            .map(|(i, v)| {
                as_number(v).ok_or_else(|| self.invalid(format!("`{k}[{i}]` is not a number")))
            })
            .collect()
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    }
}

/// Checks that `url` is http(s) and its host is one of `hosts`.
fn allowed_url(tool: &str, url: &str, hosts: &[String]) -> Result<(), ToolError> {
    let parsed = url::Url::parse(url).map_err(|e| ToolError::InvalidArgs {
        tool: tool.to_owned(),
        reason: format!("{url:?} is not a URL: {e}"),
    })?;
    if !matches!(parsed.scheme(), "http" | "https")
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return Err(ToolError::InvalidArgs {
            tool: tool.to_owned(),
            reason: format!("{url:?} must be an http(s) URL without credentials"),
        });
    }
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let ok = hosts.iter().any(|pattern| {
        let pattern = pattern.to_ascii_lowercase();
        match pattern.strip_prefix("*.") {
            Some(domain) => host
                .strip_suffix(domain)
                .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1),
            None => host == pattern,
        }
    });
    if ok {
        Ok(())
    } else {
        Err(ToolError::HostNotAllowed {
            tool: tool.to_owned(),
            host,
        })
    }
}

/// Fills `{{result}}` and `{{component-id}}` placeholders (see the module docs).
fn substitute(v: &Value, state: &UiState, result: &Value) -> Result<Value, ToolError> {
    match v {
        Value::String(s) => {
            let lookup = |name: &str| -> Result<Value, ToolError> {
                if name == "result" {
                    Ok(result.clone())
                } else {
                    state.prop(name, None)
                }
            };
            if let Some(name) = s.strip_prefix("{{").and_then(|r| r.strip_suffix("}}"))
                && !name.contains("{{")
                && !name.contains("}}")
            {
                return lookup(name.trim());
            }
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            while let Some(open) = rest.find("{{") {
                let Some(close) = rest[open + 2..].find("}}") else {
                    break;
                };
                out.push_str(&rest[..open]);
                match lookup(rest[open + 2..open + 2 + close].trim())? {
                    Value::Null => {}
                    Value::String(s) => out.push_str(&s),
                    other => out.push_str(&other.to_string()),
                }
                rest = &rest[open + 2 + close + 2..];
            }
            out.push_str(rest);
            Ok(Value::String(out))
        }
        Value::Array(a) => a
            .iter()
            .map(|x| substitute(x, state, result))
            .collect::<Result<_, _>>()
            .map(Value::Array),
        Value::Object(m) => m
            .iter()
            .map(|(k, x)| Ok((k.clone(), substitute(x, state, result)?)))
            .collect::<Result<_, _>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

/// Unix milliseconds as RFC 3339 UTC (`2026-12-04T09:00:00.000Z`).
fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}
