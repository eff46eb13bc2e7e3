-- Whether a text parses as jsonb, on every supported PostgreSQL: the IMDb importer rejects a
-- title.principals line whose characters are not JSON. pg_input_is_valid(text, 'jsonb') does
-- this from PostgreSQL 16 on; 15 has no such function, so the parse is tried in a PL/pgSQL
-- block that catches the errors jsonb input reports for a malformed or oversized text (those
-- pg_input_is_valid answers false for). Anything else (out of memory, a cancel, a stack
-- too deep) still fails the import, as it does with pg_input_is_valid.
create function jsonb_parses(value text) returns boolean
    language plpgsql immutable strict parallel safe
    as $$
begin
    perform value::jsonb;
    return true;
exception
    when invalid_text_representation or untranslatable_character or program_limit_exceeded then
        return false;
end
$$;

-- The same answer, fast for what IMDb writes. Entering a block with an exception handler
-- starts a subtransaction, which costs on every one of tens of millions of lines; nearly all
-- of them hold a plain list of strings (["Self"], ["Tom","Jerry"]): a compact array of
-- strings without escapes or control characters, which is always valid JSON. Only the rest
-- is parsed. An inlined SQL function, so that the common case costs no call; case, not or,
-- so that the match is tried first.
create function jsonb_ok(value text) returns boolean
    language sql immutable parallel safe
    return case
        when value ~ '^\[("[^"\\\x01-\x1f]*"(,"[^"\\\x01-\x1f]*")*)?\]$' then true
        else jsonb_parses(value)
    end;
