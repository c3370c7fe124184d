"""Go ``text/template`` for composite tools, evaluated safely (no ``eval``, bounded work and size).

ToolHive expands composite-tool templates (step arguments, conditions, elicitation messages,
``forEach`` collections, output values) with Go's ``text/template``, the data being
``{"params", "steps", "vars", "workflow"}`` (plus ``forEach`` inside a loop) and the functions
``json``, ``fromJson`` and ``quote`` added to Go's built-ins. This package parses and runs the same
language over plain Python data:

* actions ``{{pipeline}}`` with trim markers ``{{- … -}}`` and comments ``{{/* … */}}``;
  ``if``/``else if``/``else``, ``range`` (lists, maps in key order, integers; ``break``,
  ``continue``; ``$i, $e :=``), ``with``/``else with``; variables ``$x :=``/``$x =`` and ``$``;
* fields ``.a.b``, ``$x.a``, ``(pipeline).a``; literals (Go strings, raw strings, runes,
  numbers, ``true``/``false``/``nil``); pipes ``x | f``;
* the functions ``and or not eq ne lt le gt ge index slice len print printf println html js
  urlquery`` and ToolHive's ``json fromJson quote``.

Go's behaviour is kept where it shows: a template always yields a STRING (ToolHive coerces
arguments to the backend tool's input schema afterwards, see
:func:`toolhive.vmcp.templates.coerce_to_schema`); a missing map key prints ``<no value>`` (Go's
default ``missingkey``), and so does JSON ``null``; values print as Go's ``fmt`` does
(``map[a:1 b:x]``, ``[1 2]``, floats like ``%v``: ``1.5``, ``1e+06``); ``json`` encodes as Go's
``encoding/json`` (sorted keys, ``<>&`` escaped). Where Go fails on a number's Go type —
``eq``/``lt`` between an int and a float64, ``printf "%d"`` of a JSON number, ``index`` with a
float — numbers compare and index by value here: every JSON number is a float64 in Go, so those
templates could never work there; and integers print as integers (Go would print a JSON
``1000000`` as ``1e+06``). Not supported: ``define``/``template``/``block`` (no named templates
exist here) and ``call`` (no function values exist in the data).

Templates come from configuration; data (a client's parameters, a backend's answers) is never
parsed as a template. Output is bounded (10 MiB, as ToolHive), as are evaluation steps, nesting
and ``printf`` widths. Errors say which template and where: ``template: NAME:LINE:COL: …``.

Modules: :mod:`.limits` (the bounds on work and size), :mod:`.errors` (``TemplateError``),
:mod:`.gofmt` (Go's value printing, ``json``, ``quote``, escapers and ``printf``), :mod:`.lexer`
(an action's tokens), :mod:`.tree` (parse-tree nodes), :mod:`.parser` (``parse``, ``references``)
and :mod:`.execute` (``Template`` and its executor). ToolHive's uses (``expand``, conditions,
schema coercion) are in :mod:`toolhive.vmcp.templates`.
"""
