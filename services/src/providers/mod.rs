//! Service providers (filesystem, storage, clipboard, system, auth) exposed to apps
//! as tools. The tool registry itself is the domain branch's `tools` module.
