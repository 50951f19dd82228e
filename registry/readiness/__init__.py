"""The five scaling-readiness questions: structured answers, their lifecycle and what is missing."""
