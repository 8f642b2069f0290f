"""Invariants of the stored data, checked with plain SQL after every fuzz example."""

from __future__ import annotations

from sqlalchemy import Engine, text

from bot.storage.models import ALL_STATUSES, OPEN_STATUSES

_OPEN = ", ".join(f"'{status}'" for status in OPEN_STATUSES)
_ALL = ", ".join(f"'{status}'" for status in ALL_STATUSES)

#: Each query returns the offending rows; a name says what must hold.
CHECKS: dict[str, str] = {
    "every sponsorship has a sponsor": """
        SELECT s.id FROM sponsorships s LEFT JOIN sponsors p ON p.id = s.sponsor_id
        WHERE p.id IS NULL""",
    "every sponsor has a Telegram user": """
        SELECT p.id FROM sponsors p LEFT JOIN telegram_users u ON u.user_id = p.user_id
        WHERE u.user_id IS NULL""",
    "statuses are valid": f"SELECT id FROM sponsorships WHERE status NOT IN ({_ALL})",
    "active_nik_index set iff the sponsorship is open, equal to nik_index": f"""
        SELECT id FROM sponsorships WHERE
        (status IN ({_OPEN}) AND (active_nik_index IS NULL OR active_nik_index != nik_index))
        OR (status NOT IN ({_OPEN}) AND active_nik_index IS NOT NULL)""",
    "an open sponsorship keeps its worker's data": f"""
        SELECT id FROM sponsorships WHERE status IN ({_OPEN}) AND (worker_full_name IS NULL
        OR nik_sealed IS NULL OR nik_masked IS NULL OR erased_at IS NOT NULL)""",
    "erased data are gone": """
        SELECT id FROM sponsorships WHERE erased_at IS NOT NULL AND (worker_full_name IS NOT NULL
        OR nik_sealed IS NOT NULL OR nik_index IS NOT NULL OR worker_phone_sealed IS NOT NULL
        OR kpj_sealed IS NOT NULL)""",
    "one open sponsorship per NIK": f"""
        SELECT nik_index FROM sponsorships WHERE status IN ({_OPEN})
        GROUP BY nik_index HAVING COUNT(*) > 1""",
    "every sponsorship was consented to by its sponsor": """
        SELECT s.id FROM sponsorships s WHERE NOT EXISTS (SELECT 1 FROM consents c
        WHERE c.sponsorship_id = s.id AND c.subject = 'sponsor'
        AND c.kind = 'salary_deduction' AND c.action = 'given')""",
    "confirmed and active sponsorships have the worker's consent": """
        SELECT s.id FROM sponsorships s WHERE s.status IN ('confirmed', 'active')
        AND NOT EXISTS (SELECT 1 FROM consents c WHERE c.sponsorship_id = s.id
        AND c.kind = 'worker_data' AND c.action = 'given')""",
    "an active sponsorship has its KPJ and start date": """
        SELECT id FROM sponsorships WHERE status = 'active'
        AND (kpj_sealed IS NULL OR coverage_start IS NULL OR activated_at IS NULL)""",
    "nobody is their own worker": """
        SELECT s.id FROM sponsorships s JOIN sponsors p ON p.id = s.sponsor_id
        WHERE s.worker_user_id = p.user_id""",
    "consents, invitations and requests point at sponsorships": """
        SELECT 'consent', c.id FROM consents c LEFT JOIN sponsorships s
            ON s.id = c.sponsorship_id WHERE s.id IS NULL
        UNION ALL SELECT 'invitation', i.id FROM invitations i LEFT JOIN sponsorships s
            ON s.id = i.sponsorship_id WHERE s.id IS NULL
        UNION ALL SELECT 'request', r.id FROM requests r LEFT JOIN sponsorships s
            ON s.id = r.sponsorship_id WHERE r.sponsorship_id IS NOT NULL AND s.id IS NULL""",
    "verification tries are bounded": """
        SELECT id FROM invitations WHERE failed_attempts < 0 OR failed_attempts > 3
        OR (failed_attempts >= 3 AND locked_at IS NULL)""",
    "a resolved request says who resolved it": """
        SELECT id FROM requests WHERE (resolved_at IS NULL) != (resolved_by_user_id IS NULL)""",
}


def integrity_problems(engine: Engine) -> list[str]:
    problems = []
    with engine.connect() as connection:
        for rule, query in CHECKS.items():
            rows = connection.execute(text(query)).fetchall()
            if rows:
                problems.append(f"{rule}: {[tuple(row) for row in rows][:5]}")
    return problems
