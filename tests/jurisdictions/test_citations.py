"""Citations of the California Civil Code checked against the statute's text, as amended by the CPRA."""

from __future__ import annotations

from portal.jurisdictions import BY_KEY, kind


def test_legal_claims_is_1798_145_a_1_E() -> None:
    """Cal. Civ. Code §1798.145(a)(1) (as restructured by the CPRA, Prop. 24 of 2020): "The obligations
    imposed on businesses by this title shall not restrict a business's ability to: (A) comply with
    federal, state, or local laws or comply with a court order or subpoena ...; (B) comply with a
    civil, criminal, or regulatory inquiry ...; (C) cooperate with law enforcement agencies ...;
    (D) cooperate with a government agency request for emergency access ...; (E) exercise or
    defend legal claims; (F) ... deidentified or aggregate consumer information; (G) ... wholly
    outside of California". A legal hold keeps data for a legal claim: (E), as the registry cites
    it. (Before the CPRA the same exemption was §1798.145(a)(4); the citation is of the law in
    force.) The refusal ground that covers the law, the court order, the inquiry and legal claims
    together cites (a)(1) without a letter, and says which of them it covers."""
    ca = BY_KEY["US-CA"]
    assert ca.citations["legal_hold"] == "Cal. Civ. Code §1798.145(a)(1)(E)"
    assert "exercise or defend legal claims" in ca.citations["legal_hold_reason"]
    ground = ca.ground("ccpa-1798-145-a")
    assert ground is not None and ground.citation == "Cal. Civ. Code §1798.145(a)(1)"
    assert "court order" in ground.text and "legal claims" in ground.text


def test_message_contents_are_1798_140_ae_1_E() -> None:
    """Cal. Civ. Code §1798.140(ae): "Sensitive personal information" means (1) personal information
    that reveals: (A) social security, driver's license, state identification card or passport
    number; (B) account log-in, financial account, debit or credit card number with its code or
    password; (C) precise geolocation; (D) racial or ethnic origin, citizenship or immigration
    status, religious or philosophical beliefs, or union membership; (E) the contents of a
    consumer's mail, email, and text messages unless the business is the intended recipient of the
    communication; (F) genetic data. A screenshot that shows an e-mail or chat message addressed to
    someone other than the company reveals its contents: (ae)(1)(E), as the registry and the kinds
    cite it; the right to limit its use is §1798.121 (11 CCR §7027)."""
    ca = BY_KEY["US-CA"]
    assert "(§1798.140(ae)(1)(E))" in ca.category_names["screenshots"]
    assert "contents of mail, e-mail or text messages" in ca.category_names["screenshots"]
    assert ca.citations["limit_sensitive"] == "Cal. Civ. Code §§1798.121, 1798.140(ae); 11 CCR §7027"
    assert "(v)(1)(H)" in ca.category_names["screenshots"]  # audio, electronic, visual ... information
    assert kind("restriction").cpra == kind("objection").cpra == "request to limit"
