"""The postmortem format (docs/format.md): parsing, front matter, Markdown, taxonomy, lint.

`postmortem.parse(text, path)` turns a file into a `Postmortem` or raises
`MalformedPostmortem` with the file and line; `lint` checks a library before
merge; `files` finds the postmortem files of a folder; `authoring` starts a
new one from the template.
"""
