"""DNS TXT look-ups with dnspython, for proving control of a custom domain. Short timeouts;
any failure reads as "no records" (the agency is told to try again)."""

from __future__ import annotations

import dns.exception
import dns.resolver

lookup_seconds_max = 3.0


class DnsResolver:
    def txt_records(self, name: str) -> list[str]:
        resolver = dns.resolver.Resolver()
        resolver.lifetime = lookup_seconds_max
        try:
            answer = resolver.resolve(name, "TXT")
        except (dns.exception.DNSException, ValueError):
            return []
        return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]
