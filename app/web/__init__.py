"""The web layer every page shares: security headers and CSP, rate limits, CSP reports, assets."""
