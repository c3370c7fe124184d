"""Plain files under the XDG directories, laid out as ToolHive's (reference §11)."""
