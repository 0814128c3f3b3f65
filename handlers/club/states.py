"""Named steps of the club conversation; stored as text in the database so they read well there.

One constant per step where the bot waits for something from the club contact."""

IDENTIFY = "identify"  # waiting for the platform address
VERIFY_EMAIL = "verify_email"  # waiting for a registered e-mail address
VERIFY_CODE = "verify_code"  # waiting for the 6-digit code
MENU = "menu"  # verified: the main menu
RENEW_COUNT = "renew_count"  # choosing the number of resources
RENEW_PLAN = "renew_plan"  # choosing the plan
RENEW_CONFIRM = "renew_confirm"  # looking at the quote
RENEW_PAY = "renew_pay"  # choosing how to pay an invoice
PASSWORD = "password"  # password help
RESET_CONFIRM = "reset_confirm"  # confirming a manual reset request
EMAIL_WHICH = "email_which"  # which registered address to change
EMAIL_NEW = "email_new"  # typing the new address
EMAIL_CONFIRM = "email_confirm"  # confirming the change request
TALK = "talk"  # messages relayed to staff
