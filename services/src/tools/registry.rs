//! The catalogue of tools: id, description, argument schema and the permission each needs.

use std::{collections::BTreeMap, sync::OnceLock};

use serde::Serialize;
use serde_json::{Value, json};

use crate::blueprint::Permission;

/// One tool a Blueprint can bind an event to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    /// `namespace.verb`, e.g. `math.evaluate`.
    pub id: &'static str,
    pub description: &'static str,
    /// The permission the calling app must declare; `None` for `ui.*` and `math.*`.
    pub permission: Option<Permission>,
    /// A JSON Schema for the `args` object.
    pub args: Value,
}

/// All tools, by id. [`ToolRegistry::builtin`] is the one the services use.
#[derive(Debug, Clone, Default)]
pub struct ToolRegistry {
    tools: BTreeMap<&'static str, ToolSpec>,
}

/// The permission that guards a tool namespace (`fs` → `filesystem`).
pub fn namespace_permission(namespace: &str) -> Option<Permission> {
    match namespace {
        "fs" => Some(Permission::Filesystem),
        "storage" => Some(Permission::Storage),
        "http" => Some(Permission::Network),
        "system" => Some(Permission::System),
        "app" => Some(Permission::Apps),
        _ => None,
    }
}

/// An object schema with these properties; `required` names the mandatory ones.
fn object(props: &[(&str, Value)], required: &[&str]) -> Value {
    let properties: serde_json::Map<String, Value> = props
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn numbers() -> Value {
    json!({"type": "array", "items": {"type": "number"}, "minItems": 1, "description": "the numbers"})
}

impl ToolRegistry {
    /// The tools this build provides.
    pub fn builtin() -> &'static ToolRegistry {
        static REGISTRY: OnceLock<ToolRegistry> = OnceLock::new();
        REGISTRY.get_or_init(Self::build)
    }

    fn build() -> ToolRegistry {
        let mut r = ToolRegistry::default();
        let id = || string("the component's id");
        let prop = || string("the prop to use; `value` (or `text` for text) when absent");
        let any = || json!({"description": "any JSON value"});
        // ui.*: the app's component-state map.
        r.add(
            "ui.set",
            "Set a component's prop (its value by default); `format: \"duration\"` shows a \
             number of seconds as MM:SS (H:MM:SS from an hour).",
            object(
                &[
                    ("id", id()),
                    ("prop", prop()),
                    ("value", any()),
                    (
                        "format",
                        json!({"type": "string", "enum": ["duration"],
                               "description": "how to show a number: `duration` (seconds as MM:SS)"}),
                    ),
                ],
                &["id", "value"],
            ),
        );
        r.add(
            "ui.get",
            "Read a component's prop (its value by default).",
            object(&[("id", id()), ("prop", prop())], &["id"]),
        );
        r.add(
            "ui.append",
            "Append text to a component's value, e.g. a digit to a calculator display.",
            object(
                &[("id", id()), ("text", string("the text to append"))],
                &["id", "text"],
            ),
        );
        r.add(
            "ui.clear",
            "Empty a component's value (or a list's items).",
            object(&[("id", id())], &["id"]),
        );
        r.add(
            "ui.toggle",
            "Flip a boolean prop (`checked` by default).",
            object(
                &[
                    ("id", id()),
                    ("prop", string("the boolean prop; `checked` when absent")),
                ],
                &["id"],
            ),
        );
        r.add(
            "ui.show",
            "Make a component visible.",
            object(&[("id", id())], &["id"]),
        );
        r.add(
            "ui.hide",
            "Hide a component, keeping its state.",
            object(&[("id", id())], &["id"]),
        );
        r.add(
            "ui.enable",
            "Enable a component.",
            object(&[("id", id())], &["id"]),
        );
        r.add(
            "ui.disable",
            "Disable a component.",
            object(&[("id", id())], &["id"]),
        );
        r.add(
            "ui.add_item",
            "Add an item to a list.",
            object(
                &[("id", id()), ("item", string("the item's text"))],
                &["id", "item"],
            ),
        );
        r.add(
            "ui.remove_item",
            "Remove an item from a list, by index or by text.",
            object(
                &[
                    ("id", id()),
                    ("index", json!({"type": "integer", "minimum": 0})),
                    ("item", string("the item's text")),
                ],
                &["id"],
            ),
        );
        // app.*
        let app = || string("the app's registry id or running instance id");
        r.add(
            "app.launch",
            "Launch an app from the registry.",
            object(&[("app_id", string("the registry id"))], &["app_id"]),
        );
        r.add(
            "app.close",
            "Close a running app and its children.",
            object(&[("app_id", app())], &["app_id"]),
        );
        r.add(
            "app.focus",
            "Bring a running app to the front (the kernel's scheduler favours it).",
            object(&[("app_id", app())], &["app_id"]),
        );
        // system.*
        r.add(
            "system.info",
            "Host and AgentOS information.",
            object(&[], &[]),
        );
        r.add(
            "system.time",
            "The current time (UTC, RFC 3339 and Unix milliseconds).",
            object(&[], &[]),
        );
        r.add(
            "system.log",
            "Write a line to the app's log.",
            object(
                &[
                    ("level", json!({"enum": ["debug", "info", "warn", "error"]})),
                    ("message", string("the line")),
                ],
                &["message"],
            ),
        );
        // storage.*
        let key = || string("the key, unique within the app");
        r.add(
            "storage.get",
            "Read a value from the app's key-value store.",
            object(&[("key", key())], &["key"]),
        );
        r.add(
            "storage.set",
            "Write a value to the app's key-value store.",
            object(&[("key", key()), ("value", any())], &["key", "value"]),
        );
        r.add(
            "storage.delete",
            "Delete a key from the app's key-value store.",
            object(&[("key", key())], &["key"]),
        );
        r.add(
            "storage.list",
            "List the app's keys, optionally by prefix.",
            object(&[("prefix", string("only keys starting with this"))], &[]),
        );
        // fs.*
        let path = || string("a path under the app's granted directories");
        r.add(
            "fs.read",
            "Read a text file.",
            object(&[("path", path())], &["path"]),
        );
        r.add(
            "fs.write",
            "Write a file atomically: text, or bytes sent as base64.",
            object(
                &[
                    ("path", path()),
                    ("content", string("the file's new content")),
                    (
                        "encoding",
                        json!({"type": "string", "enum": ["utf8", "base64"],
                            "description": "how `content` is written: `utf8` text (the default), or `base64`, decoded to the bytes written"}),
                    ),
                ],
                &["path", "content"],
            ),
        );
        r.add(
            "fs.search",
            "Find files and folders by name below a folder, through its subfolders: `{matches: [{path, name, is_dir, size}], truncated}`.",
            object(
                &[
                    ("path", string("the folder to search below (default `/`)")),
                    ("query", string("a name or part of one (case-insensitive)")),
                    (
                        "max_depth",
                        json!({"type": "integer", "minimum": 1, "maximum": 16,
                            "description": "folder levels to go down (default 8, at most 16)"}),
                    ),
                    (
                        "limit",
                        json!({"type": "integer", "minimum": 1, "maximum": 500,
                            "description": "matches to answer (default 100, at most 500)"}),
                    ),
                ],
                &["query"],
            ),
        );
        r.add(
            "fs.list",
            "List a directory.",
            object(&[("path", path())], &["path"]),
        );
        r.add(
            "fs.delete",
            "Delete a file, or a folder with everything in it.",
            object(&[("path", path())], &["path"]),
        );
        r.add(
            "fs.mkdir",
            "Create a folder (and its missing parents).",
            object(&[("path", path())], &["path"]),
        );
        r.add(
            "fs.stat",
            "What a path is: `{path, is_dir, size, modified_unix_ms}`.",
            object(&[("path", path())], &["path"]),
        );
        let from_to = || {
            object(
                &[
                    ("from", string("the path it has now")),
                    ("to", string("the path it gets, which must not exist")),
                ],
                &["from", "to"],
            )
        };
        r.add("fs.move", "Move a file or folder.", from_to());
        r.add(
            "fs.rename",
            "Rename a file or folder (the same as fs.move).",
            from_to(),
        );
        r.add("fs.copy", "Copy a file.", from_to());
        // http.*
        let url = || string("an http(s) URL whose host is in the app's `hosts`");
        r.add(
            "http.get",
            "GET a URL on a host the app may reach.",
            object(&[("url", url())], &["url"]),
        );
        r.add(
            "http.post",
            "POST a body to a URL on a host the app may reach.",
            object(
                &[
                    ("url", url()),
                    ("body", any()),
                    ("content_type", string("defaults to application/json")),
                ],
                &["url"],
            ),
        );
        // math.*
        r.add("math.evaluate", "Evaluate an arithmetic expression: + - * / % ^, parentheses, unary minus, sin cos tan asin acos atan sqrt abs ln log exp floor ceil round, min max mean median stdev sum, pi and e.", object(&[("expression", string("e.g. `2 * (3 + 4) ^ 2`"))], &["expression"]));
        let angle = || {
            object(
                &[
                    ("x", json!({"type": "number"})),
                    (
                        "unit",
                        json!({"enum": ["rad", "deg"], "description": "`rad` when absent"}),
                    ),
                ],
                &["x"],
            )
        };
        r.add("math.sin", "Sine of an angle.", angle());
        r.add("math.cos", "Cosine of an angle.", angle());
        r.add("math.tan", "Tangent of an angle.", angle());
        for (id, what) in [
            ("math.mean", "Arithmetic mean"),
            ("math.median", "Median"),
            (
                "math.stdev",
                "Sample standard deviation (at least two numbers)",
            ),
            ("math.min", "Smallest"),
            ("math.max", "Largest"),
            ("math.sum", "Sum"),
        ] {
            r.add(id, what, object(&[("values", numbers())], &["values"]));
        }
        r.add(
            "math.constant",
            "A named constant: pi or e.",
            object(&[("name", json!({"enum": ["pi", "e"]}))], &["name"]),
        );
        r
    }

    fn add(&mut self, id: &'static str, description: &'static str, args: Value) {
        let namespace = id.split('.').next().unwrap_or_default();
        let spec = ToolSpec {
            id,
            description,
            permission: namespace_permission(namespace),
            args,
        };
        self.tools.insert(id, spec);
    }

    /// The tool with this id.
    pub fn get(&self, id: &str) -> Option<&ToolSpec> {
        self.tools.get(id)
    }

    /// Every tool, by id.
    pub fn iter(&self) -> impl Iterator<Item = &ToolSpec> {
        self.tools.values()
    }

    /// The tools a `/api/services/discover`-style listing shows, filtered by namespace.
    pub fn discover<'a>(
        &'a self,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = &'a ToolSpec> {
        self.iter()
            .filter(move |t| namespace.is_none_or(|ns| t.id.split('.').next() == Some(ns)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_namespace_of_the_brief_is_there() {
        let r = ToolRegistry::builtin();
        for id in [
            "ui.set",
            "ui.get",
            "ui.append",
            "ui.clear",
            "ui.toggle",
            "ui.show",
            "ui.hide",
            "ui.enable",
            "ui.disable",
            "ui.add_item",
            "ui.remove_item",
            "app.launch",
            "app.close",
            "app.focus",
            "system.info",
            "system.time",
            "system.log",
            "storage.get",
            "storage.set",
            "storage.delete",
            "storage.list",
            "fs.read",
            "fs.write",
            "fs.list",
            "fs.delete",
            "fs.mkdir",
            "fs.move",
            "fs.rename",
            "fs.copy",
            "fs.stat",
            "fs.search",
            "http.get",
            "http.post",
            "math.evaluate",
            "math.mean",
            "math.median",
            "math.stdev",
            "math.min",
            "math.max",
            "math.sum",
        ] {
            assert!(r.get(id).is_some(), "{id} is missing");
        }
    }

    #[test]
    fn permissions_follow_the_namespace() {
        let r = ToolRegistry::builtin();
        assert_eq!(
            r.get("fs.read").unwrap().permission,
            Some(Permission::Filesystem)
        );
        assert_eq!(
            r.get("http.get").unwrap().permission,
            Some(Permission::Network)
        );
        assert_eq!(r.get("ui.set").unwrap().permission, None);
        assert_eq!(r.get("math.evaluate").unwrap().permission, None);
    }

    #[test]
    fn args_are_object_schemas_and_discovery_filters() {
        let r = ToolRegistry::builtin();
        for t in r.iter() {
            assert_eq!(t.args["type"], "object", "{}", t.id);
            for req in t.args["required"].as_array().unwrap() {
                let req = req.as_str().unwrap();
                assert!(t.args["properties"].get(req).is_some(), "{}: {req}", t.id);
            }
        }
        let fs: Vec<_> = r.discover(Some("fs")).map(|t| t.id).collect();
        assert_eq!(
            fs,
            [
                "fs.copy",
                "fs.delete",
                "fs.list",
                "fs.mkdir",
                "fs.move",
                "fs.read",
                "fs.rename",
                "fs.search",
                "fs.stat",
                "fs.write"
            ]
        );
    }
}
