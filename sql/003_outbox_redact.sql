-- Helpdesk error and response bodies are stored with secrets masked since this
-- version (integrations.helpdesk_contract.redact_body). Rows stored before it may
-- hold what a helpdesk echoed back: bearer/basic credentials (an echoed
-- Authorization header), passwords inside URLs, token=/password= pairs. Mask
-- them in place. The patterns never cross a double quote, so the jsonb text of
-- a response stays valid JSON.
UPDATE helpdesk_outbox
   SET last_error = regexp_replace(
           regexp_replace(
               regexp_replace(last_error,
                   '\m(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}', '\1 ***', 'gi'),
               '([a-z][a-z0-9+.-]*://[^/\s:@"\\]*:)[^@\s/"\\]+@', '\1***@', 'gi'),
           '\m((access_|refresh_|api_|auth_)?(token|key|password|passwd|secret)["'']?\s*[:=]\s*["'']?)[^\s"''&,;}]+',
           '\1***', 'gi')
 WHERE last_error ~* '(bearer|basic)\s|://[^/\s:@"\\]*:[^@\s/"\\]+@|(token|key|password|passwd|secret)["'']?\s*[:=]';

UPDATE helpdesk_outbox
   SET response = regexp_replace(
           regexp_replace(
               regexp_replace(response::text,
                   '\m(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}', '\1 ***', 'gi'),
               '([a-z][a-z0-9+.-]*://[^/\s:@"\\]*:)[^@\s/"\\]+@', '\1***@', 'gi'),
           '("(authorization|token|access_token|refresh_token|api_key|password|passwd|secret|cookie)"\s*:\s*)"(?:[^"\\]|\\.)*"',
           '\1"***"', 'gi')::jsonb
 WHERE response IS NOT NULL
   AND response::text ~* '(bearer|basic)\s|://[^/\s:@"\\]*:[^@\s/"\\]+@|"(authorization|token|access_token|refresh_token|api_key|password|passwd|secret|cookie)"\s*:';
