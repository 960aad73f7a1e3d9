"""A static pickle VM: it runs the opcodes over symbolic values and never imports or calls.

It mirrors CPython's unpickler closely enough to know, for every import, the exact module
and name strings (STACK_GLOBAL operands are tracked through the stack and the memo, so a
name fetched with BINGET resolves when, and only when, the memo slot holds a string
constant), and, for every call, what is being called. Big data arguments (BINBYTES,
BYTEARRAY8, long strings) are skipped by length without copying, which is what makes the
scanner fast on multi-gigabyte pickles.

The caller supplies :class:`Hooks`: import decisions, findings, persistent ids and what
happens after BUILD (joblib reads array bytes there). How arguments are encoded, and what
the rarer literal opcodes decode to, is :mod:`garrison.scanning._pickle_args`'s concern.
"""

from __future__ import annotations

from typing import Any

from garrison.scanning._pickle_args import (
    LITERAL_OPCODES,
    _f64,
    _i32,
    _int_line,
    _line,
    _need,
    _text,
    _u16,
    _u32,
    _u64,
    literal,
)
from garrison.scanning._pickle_values import (
    BUFFER,
    SET,
    Blob,
    Global,
    Hooks,
    Malformed,
    Obj,
    Opaque,
    call_value,
    describe,
    escaped,
    mutation,
    new_value,
)

__all__ = ["Global", "Hooks", "Malformed", "Obj", "Opaque", "describe", "run"]

_CHECK_EVERY = 1 << 14
_MISSING = object()
_KEYABLE = (str, int, float, bool, type(None))


def run(
    data: Any, pos: int, hooks: Hooks, max_items: int, max_marks: int
) -> tuple[int, Any]:
    """Execute one pickle from ``pos``; return (offset after STOP, the unpickled top value).

    ``data`` is bytes, bytearray or mmap (anything with ``find`` and integer indexing); the
    pickle may run to its end, and nothing past a STOP is read.
    """
    end = len(data)
    stack: list[Any] = []
    metastack: list[list[Any]] = []
    memo: dict[int, Any] = {}
    push = stack.append
    proto = 0
    budget = _CHECK_EVERY
    # Set once a guarded global (getattr, _ufunc_reconstruct, ...) is on the stack: from
    # then on every opcode that stores values checks that none of them is such a global.
    live = False

    def pop_mark(offset: int) -> list[Any]:
        nonlocal stack, push
        if not metastack:
            raise Malformed("MARK expected but none is open", offset)
        items = stack
        stack = metastack.pop()
        push = stack.append
        return items

    while True:
        if pos >= end:
            raise Malformed("pickle data ends before STOP", pos)
        budget -= 1
        if budget == 0:
            budget = _CHECK_EVERY
            if len(stack) + len(memo) > max_items:
                raise Malformed("pickle exceeds the stack/memo cap", pos)
        op = data[pos]
        start = pos
        pos += 1
        try:
            if op == 0x8C:  # SHORT_BINUNICODE
                stop = _need(pos + 1, data[pos], end)
                push(_text(data, pos + 1, stop))
                pos = stop
            elif op == 0x94:  # MEMOIZE
                memo[len(memo)] = stack[-1]
            elif op == 0x71:  # BINPUT
                memo[data[pos]] = stack[-1]
                pos += 1
            elif op == 0x68:  # BINGET
                value = memo.get(data[pos], _MISSING)
                if value is _MISSING:
                    raise Malformed("memo slot read before it was written", start)
                push(value)
                pos += 1
            elif op == 0x6A:  # LONG_BINGET
                _need(pos, 4, end)
                value = memo.get(_u32(data, pos)[0], _MISSING)
                if value is _MISSING:
                    raise Malformed("memo slot read before it was written", start)
                push(value)
                pos += 4
            elif op == 0x72:  # LONG_BINPUT
                _need(pos, 4, end)
                memo[_u32(data, pos)[0]] = stack[-1]
                pos += 4
            elif op == 0x4B:  # BININT1
                push(data[pos])
                pos += 1
            elif op == 0x28:  # MARK
                metastack.append(stack)
                if len(metastack) > max_marks:
                    raise Malformed("MARK nesting exceeds the cap", start)
                stack = []
                push = stack.append
            elif op == 0x85 or op == 0x86 or op == 0x87:  # TUPLE1/2/3
                n = op - 0x84
                if len(stack) < n:
                    raise Malformed("stack underflow", start)
                packed = tuple(stack[-n:])
                del stack[-n:]
                if live:
                    escaped(packed, start, hooks)
                push(packed)
            elif op == 0x74:  # TUPLE
                items = pop_mark(start)
                if live:
                    escaped(items, start, hooks)
                push(tuple(items))
            elif op == 0x29:  # EMPTY_TUPLE
                push(())
            elif op == 0x7D:  # EMPTY_DICT
                push({})
            elif op == 0x5D:  # EMPTY_LIST
                push([])
            elif op == 0x75 or op == 0x73:  # SETITEMS, SETITEM
                if op == 0x75:
                    items = pop_mark(start)
                else:
                    items = stack[-2:]
                    if len(items) != 2:
                        raise Malformed("stack underflow", start)
                    del stack[-2:]
                if len(items) % 2:
                    raise Malformed("odd number of items for SETITEMS", start)
                if live:
                    escaped(items, start, hooks)
                target = stack[-1]
                if type(target) is dict:
                    for i in range(0, len(items), 2):
                        if isinstance(items[i], _KEYABLE):
                            target[items[i]] = items[i + 1]
                else:
                    mutation(target, start, hooks, "SETITEMS")
            elif op == 0x65 or op == 0x61:  # APPENDS, APPEND
                items = pop_mark(start) if op == 0x65 else [stack.pop()]
                if live:
                    escaped(items, start, hooks)
                target = stack[-1]
                if type(target) is list:
                    target.extend(items)
                else:
                    mutation(target, start, hooks, "APPENDS")
            elif op == 0x42 or op == 0x58:  # BINBYTES, BINUNICODE
                _need(pos, 4, end)
                stop = _need(pos + 4, _u32(data, pos)[0], end)
                push(Blob(pos + 4, stop) if op == 0x42 else _text(data, pos + 4, stop))
                pos = stop
            elif op == 0x43:  # SHORT_BINBYTES
                stop = _need(pos + 1, data[pos], end)
                push(Blob(pos + 1, stop))
                pos = stop
            elif op == 0x8E or op == 0x96 or op == 0x8D:  # BINBYTES8, BYTEARRAY8, BINUNICODE8
                _need(pos, 8, end)
                stop = _need(pos + 8, _u64(data, pos)[0], end)
                push(_text(data, pos + 8, stop) if op == 0x8D else Blob(pos + 8, stop))
                pos = stop
            elif op == 0x47:  # BINFLOAT
                _need(pos, 8, end)
                push(_f64(data, pos)[0])
                pos += 8
            elif op == 0x4A:  # BININT
                _need(pos, 4, end)
                push(_i32(data, pos)[0])
                pos += 4
            elif op == 0x4D:  # BININT2
                _need(pos, 2, end)
                push(_u16(data, pos)[0])
                pos += 2
            elif op == 0x4E:  # NONE
                push(None)
            elif op == 0x88:  # NEWTRUE
                push(True)
            elif op == 0x89:  # NEWFALSE
                push(False)
            elif op == 0x52:  # REDUCE
                args = stack.pop()
                func = stack.pop()
                result = call_value(func, args, start, hooks)
                if type(result) is Global and result.kind == "guarded":
                    live = True
                push(result)
            elif op == 0x62:  # BUILD
                state = stack.pop()
                if live:
                    escaped((state,), start, hooks)
                target = stack[-1]
                if type(target) is Obj:
                    target.state = state
                    slots = state[1] if type(state) is tuple and len(state) == 2 else None
                    main = state[0] if slots is not None else state
                    for part in (main, slots):
                        if type(part) is dict:
                            target.attrs.update(part)
                    pos = hooks.after_build(target, stack, pos)
                else:
                    mutation(target, start, hooks, "BUILD")
            elif op == 0x81:  # NEWOBJ
                args = stack.pop()
                cls = stack.pop()
                push(new_value(cls, args, start, hooks, "NEWOBJ"))
            elif op == 0x92:  # NEWOBJ_EX
                stack.pop()
                args = stack.pop()
                cls = stack.pop()
                push(new_value(cls, args, start, hooks, "NEWOBJ_EX"))
            elif op == 0x93:  # STACK_GLOBAL
                name = stack.pop()
                module = stack.pop()
                if type(module) is str and type(name) is str:
                    glob = hooks.resolve_global(module, name, start, proto)
                    live = live or glob.kind == "guarded"
                    push(glob)
                else:
                    push(hooks.unresolvable_global(module, name, start))
            elif op == 0x63 or op == 0x69:  # GLOBAL, INST
                raw_module, pos = _line(data, pos, end)
                raw_name, pos = _line(data, pos, end)
                try:
                    module, name = raw_module.decode("utf-8"), raw_name.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise Malformed("invalid UTF-8 in a GLOBAL name", start) from exc
                glob = hooks.resolve_global(module, name, start, proto)
                if op == 0x63:
                    live = live or glob.kind == "guarded"
                    push(glob)
                else:
                    # INST calls the class with the marked items, like REDUCE.
                    items = pop_mark(start)
                    if live:
                        escaped(items, start, hooks)
                    push(call_value(glob, tuple(items), start, hooks))
            elif op == 0x6F:  # OBJ
                items = pop_mark(start)
                if not items:
                    raise Malformed("OBJ without a class", start)
                if live:
                    escaped(items[1:], start, hooks)
                if type(items[0]) is Global and items[0].kind != "value":
                    push(call_value(items[0], tuple(items[1:]), start, hooks))
                else:
                    push(new_value(items[0], tuple(items[1:]), start, hooks, "OBJ"))
            elif op == 0x95:  # FRAME
                _need(pos, 8, end)
                _need(pos + 8, _u64(data, pos)[0], end)
                pos += 8
            elif op == 0x80:  # PROTO
                proto = data[pos]
                if proto > 5:
                    raise Malformed(f"unsupported pickle protocol {proto}", start)
                pos += 1
            elif op == 0x2E:  # STOP
                if not stack:
                    raise Malformed("STOP with an empty stack", start)
                if live:
                    escaped((stack[-1],), start, hooks)
                return pos, stack[-1]
            elif op == 0x30:  # POP
                if stack:
                    stack.pop()
                else:
                    pop_mark(start)
            elif op == 0x31:  # POP_MARK
                pop_mark(start)
            elif op == 0x32:  # DUP
                push(stack[-1])
            elif op == 0x6C:  # LIST
                items = pop_mark(start)
                if live:
                    escaped(items, start, hooks)
                push(items)
            elif op == 0x64:  # DICT
                items = pop_mark(start)
                if len(items) % 2:
                    raise Malformed("odd number of items for DICT", start)
                if live:
                    escaped(items, start, hooks)
                push(
                    {
                        items[i]: items[i + 1]
                        for i in range(0, len(items), 2)
                        if isinstance(items[i], _KEYABLE)
                    }
                )
            elif op == 0x8F:  # EMPTY_SET
                push(SET)
            elif op == 0x90:  # ADDITEMS
                items = pop_mark(start)
                if live:
                    escaped(items, start, hooks)
                mutation(stack[-1], start, hooks, "ADDITEMS")
            elif op == 0x91:  # FROZENSET
                items = pop_mark(start)
                if live:
                    escaped(items, start, hooks)
                stack.append(SET)
            elif op in LITERAL_OPCODES:  # LONG1, LONG4, INT, LONG, FLOAT, STRING, ...
                # The text protocol's literals and the long integers, decoded apart.
                value, pos = literal(op, data, pos, end, start)
                push(value)
            elif op == 0x70 or op == 0x67:  # PUT, GET
                raw, pos = _line(data, pos, end)
                idx = _int_line(raw, start)
                if idx < 0:
                    raise Malformed("negative memo index", start)
                if op == 0x70:
                    memo[idx] = stack[-1]
                else:
                    value = memo.get(idx, _MISSING)
                    if value is _MISSING:
                        raise Malformed("memo slot read before it was written", start)
                    push(value)
            elif op == 0x50:  # PERSID
                raw, pos = _line(data, pos, end)
                try:
                    pid: Any = raw.decode("ascii")
                except UnicodeDecodeError as exc:
                    raise Malformed("persistent id is not ASCII", start) from exc
                push(hooks.persistent_id(pid, start))
            elif op == 0x51:  # BINPERSID
                pid = stack.pop()
                if live:
                    escaped((pid,), start, hooks)
                push(hooks.persistent_id(pid, start))
            elif op == 0x82 or op == 0x83 or op == 0x84:  # EXT1, EXT2, EXT4
                width = {0x82: 1, 0x83: 2, 0x84: 4}[op]
                _need(pos, width, end)
                code = int.from_bytes(data[pos : pos + width], "little")
                pos += width
                hooks.finding(
                    "pickle-ext-code",
                    f"EXT opcode loads extension code {code} from the copyreg registry",
                    start,
                    f"ext:{code}",
                )
                push(Global("copyreg-extension", str(code), False))
            elif op == 0x97:  # NEXT_BUFFER
                push(BUFFER)
            elif op == 0x98:  # READONLY_BUFFER
                if not stack:
                    raise Malformed("stack underflow", start)
            else:
                raise Malformed(f"invalid opcode 0x{op:02x}", start)
        except IndexError as exc:
            # Popping an empty stack or reading past a buffer: the stream is not a pickle.
            raise Malformed("stack underflow or truncated argument", start) from exc
