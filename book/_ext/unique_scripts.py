"""Sphinx extension: each page's scripts once. sphinx-thebe and sphinx-togglebutton add their
configuration scripts each time the documents are read, and a Jupyter Book build reads them twice,
so every page declared ``THEBE_JS_URL`` twice (a SyntaxError in the browser's console). Scripts
with the same source (or inline body) and attributes are kept once, in their first place."""


def unique_scripts(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for script in context.get("script_files", []):
        # an inline script's file is None or "" depending on who added it: the same script either way
        name = getattr(script, "filename", script) or ""
        key = (str(name), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    if "script_files" in context:
        context["script_files"][:] = kept  # in place: it is the builder's own list


def setup(app):
    # After the other page-context handlers, which add scripts (MathJax on pages with math) then.
    app.connect("html-page-context", unique_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
