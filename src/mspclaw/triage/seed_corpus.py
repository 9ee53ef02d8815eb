"""The project's own seed corpus: labelled example tickets for every built-in intent.

Generated deterministically (fixed seed) from hand-written phrase banks: e-mails, portal forms,
RMM alert texts and chat one-liners, with typos, signatures, disclaimers, forwarded threads and
mixed requests. It trains the shipped default model; no external dataset is copied here.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from mspclaw.triage.taxonomy import INTENT_IDS

SEED = 20240611
DEFAULT_PER_INTENT = 300
CORPUS_PATH = Path(__file__).parent / "data" / "seed_corpus.jsonl.gz"


class SeedExample(BaseModel):
    """One labelled example ticket as it would arrive (raw, not normalised)."""

    model_config = ConfigDict(frozen=True)

    subject: str
    body: str
    intent: str
    channel: str
    #: which hand-written phrase the example grew from; cross-validation holds whole
    #: templates out, so the score measures unseen phrasings, not memorised ones
    template: str = ""


@dataclass(frozen=True)
class PhraseBank:
    """What people write about one intent: subject lines, the problem, extra detail, alerts."""

    subjects: tuple[str, ...]
    problems: tuple[str, ...]
    details: tuple[str, ...] = ()
    alerts: tuple[tuple[str, str], ...] = ()
    chats: tuple[str, ...] = ()
    portal_category: tuple[str, ...] = field(default=("General request",))


# --- slot values shared by all templates -------------------------------------------------

SLOTS: dict[str, tuple[str, ...]] = {
    "name": (
        "Sarah Jones",
        "Tom Becker",
        "Priya Patel",
        "Marco Rossi",
        "Anna Müller",
        "Li Wei",
        "James O'Neill",
        "Fatima Khan",
        "Lucas Martin",
        "Emma de Vries",
        "Carlos Ruiz",
        "Olivia Brown",
        "Noah Schmidt",
        "Chloe Dubois",
        "Ahmed Hassan",
        "Grace Kim",
    ),
    "first": (
        "Sarah",
        "Tom",
        "Priya",
        "Marco",
        "Anna",
        "Wei",
        "James",
        "Fatima",
        "Lucas",
        "Emma",
        "Carlos",
        "Olivia",
        "Noah",
        "Chloe",
        "Ahmed",
        "Grace",
        "Dave",
        "Kerry",
    ),
    "app": (
        "Sage 50",
        "Xero",
        "Adobe Acrobat Pro",
        "AutoCAD",
        "Microsoft Teams",
        "Zoom",
        "Salesforce",
        "SAP Business One",
        "QuickBooks",
        "Visual Studio",
        "Power BI",
        "Slack",
        "Revit",
        "SolidWorks",
        "Chrome",
        "Office 365",
        "Dynamics 365",
        "Tableau",
        "Notepad++",
        "7-Zip",
        "Photoshop",
        "Citrix Workspace",
        "DocuSign",
        "Jira",
    ),
    "printer": (
        "HP LaserJet M607",
        "Canon iR-ADV C5535",
        "Ricoh MP C3004",
        "Brother MFC-L8900",
        "Kyocera TASKalfa 3253ci",
        "Xerox VersaLink C405",
        "the big copier",
        "the printer by reception",
        "the label printer",
        "the plotter",
    ),
    "floor": (
        "2nd floor",
        "3rd floor",
        "ground floor",
        "first floor",
        "4th floor",
        "mezzanine",
        "warehouse",
        "finance office",
        "reception",
        "accounts area",
    ),
    "site": (
        "Manchester office",
        "Leeds branch",
        "head office",
        "the warehouse",
        "Berlin office",
        "the clinic",
        "site B",
        "the Bristol office",
        "our Dublin site",
        "the new office",
    ),
    "host": (
        "FIN-LT-042",
        "SRV-DC01",
        "SRV-FS02",
        "WS-RECEPTION",
        "LAPTOP-7H2K9",
        "DESKTOP-Q81M",
        "ACC-PC-11",
        "SRV-SQL01",
        "SRV-APP03",
        "MKT-LT-07",
        "HR-PC-03",
        "SRV-EXCH01",
        "SRV-BKP01",
        "DEV-WS-22",
        "OPS-LT-15",
    ),
    "server": (
        "SRV-DC01",
        "SRV-FS02",
        "SRV-SQL01",
        "SRV-APP03",
        "SRV-EXCH01",
        "SRV-BKP01",
        "SRV-RDS01",
        "SRV-HV02",
        "NAS01",
        "SRV-PRINT01",
    ),
    "drive": ("C:", "D:", "E:", "C:\\", "/var", "/", "the system drive", "the data volume"),
    "pct": ("91", "94", "95", "97", "98", "99", "96", "92"),
    "gb": ("1.2", "0.8", "3.5", "2", "450 MB", "0.3", "5", "700 MB"),
    "error": (
        "0x80070005",
        "809",
        "691",
        "0x800CCC0E",
        "53003",
        "AADSTS50076",
        "0x80004005",
        "13801",
        "720",
        "50126",
        "0x8007045D",
        "E_ACCESSDENIED",
    ),
    "day": (
        "this morning",
        "yesterday",
        "since Monday",
        "since the update last night",
        "for the last two days",
        "since lunchtime",
        "after the weekend",
        "today",
        "since I came back from holiday",
        "since about 10am",
    ),
    "date": (
        "Monday 3rd",
        "next Monday",
        "the 1st of next month",
        "14/10",
        "Tuesday",
        "Friday the 20th",
        "2nd September",
        "next week Wednesday",
        "the 15th",
    ),
    "group": (
        "Finance",
        "HR",
        "Marketing",
        "Sales",
        "Operations",
        "Management",
        "Projects",
        "Accounts Payable",
        "Legal",
        "Engineering",
        "Support",
        "Directors",
    ),
    "share": (
        "\\\\fs01\\finance",
        "the Projects shared drive",
        "the HR folder",
        "S:\\Shared\\Sales",
        "the Board Pack folder",
        "\\\\srv-fs02\\ops$",
        "the Marketing SharePoint site",
        "the Contracts library",
        "P:\\Payroll",
    ),
    "mailbox": (
        "accounts@",
        "info@",
        "sales@",
        "support@",
        "the invoices mailbox",
        "the HR shared mailbox",
        "bookings@",
        "the reception calendar",
    ),
    "role": (
        "Accounts Assistant",
        "Sales Executive",
        "Project Manager",
        "Office Manager",
        "Marketing Coordinator",
        "Engineer",
        "Receptionist",
        "Finance Director",
        "HR Advisor",
        "Warehouse Supervisor",
        "Paralegal",
        "Dental Nurse",
    ),
    "ssid": (
        "CORP-WIFI",
        "Office-5G",
        "GUEST",
        "Contoso-Staff",
        "WH-Scanners",
        "eduroam",
        "BoardRoom",
    ),
    "count": ("3", "5", "a few", "several", "two", "all", "10", "most of the"),
    "device": (
        "laptop",
        "desktop",
        "PC",
        "Surface",
        "MacBook",
        "ThinkPad",
        "Dell laptop",
        "workstation",
    ),
    "peripheral": (
        "monitor",
        "keyboard",
        "mouse",
        "docking station",
        "headset",
        "webcam",
        "charger",
        "battery",
        "screen",
        "trackpad",
        "USB-C dock",
        "second monitor",
    ),
    "vpn": (
        "the VPN",
        "FortiClient",
        "GlobalProtect",
        "AnyConnect",
        "the Always On VPN",
        "WireGuard",
        "the SonicWall VPN",
        "OpenVPN",
    ),
    "phone": ("iPhone", "Android phone", "new phone", "work mobile", "Samsung", "Pixel"),
    "mfa_app": (
        "Microsoft Authenticator",
        "the authenticator app",
        "Duo",
        "Google Authenticator",
        "Okta Verify",
        "the MFA app",
    ),
    "file": (
        "the Q3 forecast spreadsheet",
        "a Word document",
        "the client folder",
        "last week's invoices",
        "my Desktop folder",
        "the contracts folder",
        "Budget_2024.xlsx",
        "an Outlook PST",
        "the CAD drawings",
    ),
}

# --- phrase banks, one per intent --------------------------------------------------------

BANKS: dict[str, PhraseBank] = {
    "password_reset": PhraseBank(
        subjects=(
            "Password reset",
            "Forgot my password",
            "Password reset request",
            "Can't remember password",
            "password expired",
            "Reset password please",
            "Need new password",
            "Password change help",
            "Password not working",
            "Expired password - can't log in",
        ),
        problems=(
            "I forgot my password and can't log in to my {device}.",
            "My password has expired and it won't let me change it.",
            "Could you please reset my password? I have forgotten it.",
            "I changed my password on Friday and now I can't remember the new one.",
            "Windows says my password has expired and I must change it, but the change fails.",
            "Please reset the password for {name}, they have forgotten it.",
            "I need a password reset for my {app} account.",
            "My password isn't being accepted anymore, I think it expired {day}.",
            "Can I get a temporary password? I forgot mine over the weekend.",
            "The self-service password reset page says my details don't match.",
            "I've been prompted to update my password but I don't know the current one.",
            "Password reset needed for the new laptop login, the old one doesn't work.",
            "I typed my new password wrong when I set it and now I can't log on.",
            "Can you send me a password reset link for my Office 365 account?",
            "My domain password expires tomorrow, how do I change it from home?",
        ),
        details=(
            "I've tried the forgotten password link but I never got the code.",
            "My username is {first}.{first} if that helps.",
            "I'm at my desk now if you want to call me.",
            "I need to get into my e-mails urgently.",
            "It says the password does not meet the complexity requirements.",
            "I think I typed it wrong when I changed it.",
        ),
        chats=(
            "forgot password",
            "pw reset pls",
            "need password reset",
            "my password expired can u reset",
            "password reset for {first}",
            "cant remember my password",
        ),
        portal_category=("Account / Password", "Password reset", "User accounts"),
    ),
    "account_lockout": PhraseBank(
        subjects=(
            "Account locked out",
            "Locked out",
            "Account is locked",
            "Can't log in - locked",
            "User locked out",
            "AD account lockout",
            "Locked out of my account again",
            "Account disabled?",
            "Lockout",
            "Too many attempts - locked",
        ),
        problems=(
            "My account is locked out after too many attempts.",
            "I'm locked out of my account, it says the referenced account is currently locked out.",
            "{name} has been locked out of their account again {day}.",
            "Windows says my account has been locked and to contact my administrator.",
            "Please unlock my account, I entered the wrong password too many times.",
            "I keep getting locked out every few minutes even though my password is correct.",
            "My AD account keeps locking, I think my phone has the old password.",
            "Can you unlock {first}'s account? They're locked out of the {device}.",
            "I tried to log in several times and now the account is locked.",
            "Office 365 says my sign-in was blocked and my account is locked.",
            "The account for the shared reception PC is locked out.",
            "Locked out of the terminal server, says account locked.",
        ),
        details=(
            "This is the third time this week.",
            "I haven't changed my password recently.",
            "I can't do any work until it's unlocked.",
            "It might be my old phone still trying to sync mail.",
            "Please can you unlock it as soon as possible.",
        ),
        alerts=(
            (
                "Account lockout detected: {first}.smith on {server}",
                "Security event 4740: A user account was locked out.\nAccount: {first}.smith\n"
                "Caller computer: {host}\nDomain controller: {server}",
            ),
            (
                "AD alert - repeated account lockouts",
                "Monitor: Active Directory lockouts\n"
                "User {first} locked out {count} times in 1 hour\n"
                "Source workstation: {host}",
            ),
        ),
        chats=(
            "im locked out",
            "account locked pls unlock",
            "locked out again",
            "can you unlock my account",
            "unlock {first} pls",
        ),
        portal_category=("Account / Password", "User accounts", "Login problem"),
    ),
    "mfa": PhraseBank(
        subjects=(
            "MFA not working",
            "Authenticator app issue",
            "New phone - MFA",
            "Two factor authentication problem",
            "Not receiving MFA code",
            "2FA prompt",
            "MFA reset needed",
            "Can't approve sign-in",
            "Duo not working",
            "Multi-factor authentication setup",
        ),
        problems=(
            "I got a new {phone} and need to move {mfa_app} to it.",
            "I'm not receiving the MFA code by text message anymore.",
            "The authenticator app isn't showing the sign-in approval notification.",
            "Please reset my MFA, I lost my phone.",
            "I keep getting MFA prompts I didn't request, is that normal?",
            "I can't set up two-factor authentication, the QR code won't scan.",
            "My {mfa_app} codes are being rejected as invalid.",
            "I need to register a new device for multi-factor authentication.",
            "Can you re-enable MFA for {name}? They changed phone number.",
            "The 2FA code from {mfa_app} says it has expired before I can type it.",
            "Sign-in asks for verification but I no longer have the old phone.",
            "I'm abroad and the SMS verification codes don't arrive.",
        ),
        details=(
            "I've already reinstalled the app.",
            "The error code is {error}.",
            "My old phone was wiped when I traded it in.",
            "I can't get into Teams or Outlook until this is sorted.",
            "The time on my phone is set automatically.",
        ),
        chats=(
            "mfa not working",
            "new phone need mfa moved",
            "no 2fa code",
            "authenticator reset pls",
            "mfa prompt keeps popping up",
        ),
        portal_category=("Account / Password", "Security", "MFA"),
    ),
    "printer": PhraseBank(
        subjects=(
            "Printer not working",
            "Printer offline",
            "Can't print",
            "Paper jam",
            "Printing issue",
            "Scanner not sending emails",
            "Printer on {floor}",
            "Print queue stuck",
            "Toner",
            "Add printer to my laptop",
        ),
        problems=(
            "The printer on the {floor} is offline.",
            "{printer} keeps jamming and printing blank pages.",
            "I can't print anything, jobs just sit in the queue.",
            "The printer says low toner but we just replaced the cartridge.",
            "Scan to email on {printer} has stopped working.",
            "Please add the {floor} printer to my {device}.",
            "Printing from {app} comes out in black and white only.",
            "The copier on the {floor} shows error SC542 and won't print.",
            "The print spooler keeps crashing on my PC.",
            "Can you install the driver for {printer}? It's not in the list.",
            "My prints come out with streaks and smudges.",
            "The label printer in the warehouse prints everything shifted.",
            "Scanned documents aren't arriving in the shared folder anymore.",
            "Nobody in the {floor} can print, it says printer offline.",
        ),
        details=(
            "I've turned it off and on again.",
            "It was working fine {day}.",
            "There's a flashing orange light on the front.",
            "We need to print payroll today.",
            "Other people can print to it fine.",
            "The display says 'Load paper tray 2' but the tray is full.",
        ),
        alerts=(
            (
                "Printer alert: {printer} toner low",
                "Device: {printer}\nLocation: {floor}\nStatus: Toner cartridge black below 5%",
            ),
            (
                "SNMP alert - printer offline",
                "Printer {printer} at {site} is not responding to SNMP.\nLast seen 45 minutes ago.",
            ),
            (
                "Print spooler service stopped on {server}",
                "Service 'Print Spooler' on {server} changed state to Stopped. Automatic restart failed.",
            ),
        ),
        chats=(
            "printer offline again",
            "cant print",
            "paper jam {floor}",
            "printer not working",
            "need printer added",
            "scanner broken",
        ),
        portal_category=("Printing", "Printer / Scanner", "Hardware"),
    ),
    "vpn": PhraseBank(
        subjects=(
            "VPN not connecting",
            "Can't connect to VPN",
            "Remote access issue",
            "VPN keeps dropping",
            "Working from home - no access",
            "{vpn} error",
            "VPN access request",
            "VPN slow",
            "Can't reach server from home",
            "Remote desktop over VPN",
        ),
        problems=(
            "I can't connect to {vpn} from home, it fails with error {error}.",
            "{vpn} connects but I can't reach any of the network drives.",
            "The VPN keeps disconnecting every few minutes.",
            "I'm working from home and the VPN won't connect {day}.",
            "Please set up VPN access for {name}, they'll be working remotely.",
            "{vpn} says the certificate is invalid or expired.",
            "When on the VPN I can't get to the remote desktop server.",
            "The VPN client is stuck on 'connecting' and then times out.",
            "Remote access is extremely slow over the VPN.",
            "I get 'gateway not responding' when I try to connect to {vpn}.",
            "After the Windows update {vpn} will not start anymore.",
            "I can't access internal sites from the hotel, the VPN fails to connect.",
        ),
        details=(
            "My home internet is working fine otherwise.",
            "I've restarted the laptop and the router.",
            "I have a client presentation this afternoon and need the files.",
            "It worked when I was in the office.",
            "The error code is {error}.",
        ),
        alerts=(
            (
                "VPN tunnel down: {site}",
                "Site-to-site VPN tunnel between head office and {site} is down.\nPhase 1 negotiation failed.",
            ),
            (
                "Firewall alert - IPsec tunnel flapping",
                "IPsec VPN tunnel to {site} went down 6 times in the last hour.",
            ),
        ),
        chats=(
            "vpn wont connect",
            "vpn down?",
            "cant get on vpn from home",
            "vpn keeps dropping",
            "need vpn access",
        ),
        portal_category=("Remote access", "Network", "VPN"),
    ),
    "wifi": PhraseBank(
        subjects=(
            "Wi-Fi not working",
            "WiFi down",
            "Wireless issues",
            "No internet on wifi",
            "Guest wifi password",
            "Wifi keeps dropping",
            "Can't connect to {ssid}",
            "Poor wireless signal",
            "WLAN problem",
            "Wi-Fi in meeting room",
        ),
        problems=(
            "The Wi-Fi in the {floor} keeps dropping out.",
            "My {device} won't connect to {ssid}, it says can't connect to this network.",
            "Wireless is really slow in the meeting room.",
            "We have no Wi-Fi signal at all in the {floor}.",
            "What is the guest Wi-Fi password for visitors?",
            "My laptop connects to the WiFi but says no internet.",
            "The wireless access point by reception has a red light.",
            "The warehouse scanners lose the Wi-Fi connection constantly.",
            "I keep getting asked for the Wi-Fi password on {ssid}.",
            "Can you add my {phone} to the staff Wi-Fi?",
            "Wi-Fi signal drops whenever I move to the {floor}.",
            "Nobody can join {ssid} {day}.",
        ),
        details=(
            "The cable works fine when I plug in.",
            "Other people are having the same issue.",
            "We have visitors arriving at 2pm.",
            "I've forgotten the network and re-added it.",
            "It only happens in the afternoon.",
        ),
        alerts=(
            (
                "Access point offline: AP-{floor}",
                "UniFi controller: access point AP-03 at {site} disconnected.\nClients affected: 14",
            ),
            (
                "Wireless controller alert",
                "Meraki alert: SSID {ssid} high channel utilisation on AP-02 (92%).",
            ),
        ),
        chats=(
            "wifi down",
            "no wifi on {floor}",
            "guest wifi pw?",
            "wifi keeps dropping",
            "cant connect to wifi",
        ),
        portal_category=("Network", "Wi-Fi", "Connectivity"),
    ),
    "email": PhraseBank(
        subjects=(
            "Outlook not working",
            "Email problem",
            "Mailbox full",
            "Not receiving emails",
            "Emails bouncing",
            "Shared mailbox",
            "Outlook keeps crashing",
            "Calendar not syncing",
            "Email signature",
            "Out of office",
        ),
        problems=(
            "Outlook keeps asking for my password and won't connect.",
            "I'm not receiving any external emails {day}.",
            "My mailbox is full and I can't send emails.",
            "Emails to a customer are bouncing back with a delivery failure.",
            "Outlook crashes every time I open it.",
            "I can't see the {mailbox} shared mailbox in Outlook anymore.",
            "My calendar isn't syncing to my {phone}.",
            "Can you update my email signature with my new job title?",
            "Please set up an out of office on {name}'s mailbox.",
            "Outlook is stuck on 'updating folder' and nothing comes in.",
            "Emails from our supplier are going to junk.",
            "I accidentally deleted a folder of emails, can it be recovered?",
            "Outlook search doesn't find anything older than a month.",
            "My emails are stuck in the outbox.",
            "Can you create a distribution list for the {group} team?",
            "Emails I send to {mailbox} never arrive.",
            "My Outlook shows 'disconnected' at the bottom and no new mail comes in.",
            "Attachments over 10MB get rejected when I send them.",
        ),
        details=(
            "Webmail works fine.",
            "The bounce message says 550 5.7.1 relaying denied.",
            "I've restarted Outlook twice.",
            "I need to send a quote to a customer today.",
            "It started after the Office update.",
        ),
        alerts=(
            (
                "Mail queue alert on {server}",
                "Exchange transport queue length is 842 messages (threshold 500) on {server}.",
            ),
            (
                "Mailbox quota warning: {first}",
                "Mailbox for {first} is at {pct}% of quota (49.5 GB / 50 GB).",
            ),
            (
                "NDR spike: outbound mail rejected",
                "{count} outbound messages rejected in the last hour: 550 5.7.1 SPF check failed.",
            ),
            (
                "Mail flow alert - inbound delayed",
                "Inbound messages to {mailbox} delayed more than 30 minutes (connector unhealthy).",
            ),
        ),
        chats=(
            "outlook broken",
            "not getting emails",
            "mailbox full",
            "emails bouncing",
            "outlook keeps asking password",
        ),
        portal_category=("Email / Outlook", "Microsoft 365", "Email"),
    ),
    "disk_space": PhraseBank(
        subjects=(
            "Disk space low",
            "C drive full",
            "Low disk space warning",
            "Out of storage",
            "Hard drive full",
            "No space left",
            "Disk nearly full on {server}",
            "Storage full",
            "Can't save - disk full",
            "Free space alert",
        ),
        problems=(
            "My C drive is full and I can't save anything.",
            "I'm getting a low disk space warning on my {device}.",
            "The {drive} drive on {server} is almost full.",
            "Windows says there's not enough space to install updates.",
            "My laptop only has {gb} GB free, can you clear it up?",
            "The file server is running out of space.",
            "I can't download attachments, it says the disk is full.",
            "Please can you increase the size of my OneDrive or clean up my disk?",
            "The disk on {host} keeps filling up with temp files.",
            "We're out of storage on the shared drive.",
        ),
        details=(
            "I've already emptied the recycle bin.",
            "Most of it seems to be in the Downloads folder.",
            "It happened after the last backup.",
            "The PC is really slow because of it.",
        ),
        alerts=(
            (
                "Disk space low on {host}",
                "Volume {drive} on {host} has {gb} GB free ({pct}% used). Threshold: 90%.",
            ),
            (
                "[RMM] Low disk space - {server}",
                "Drive {drive} free space below 10%\nDevice: {server}\nCurrent usage: {pct}%",
            ),
            (
                "Disk usage critical: {server}",
                "Filesystem {drive} is {pct}% full on {server}. Free: {gb} GB.",
            ),
            (
                "Storage alert - datastore nearly full",
                "Datastore DS01 on {server} at {pct}% capacity. VM snapshots may fail.",
            ),
        ),
        chats=("c drive full", "low disk space", "no space left on laptop", "disk full"),
        portal_category=("Storage", "Hardware", "Performance"),
    ),
    "slow_computer": PhraseBank(
        subjects=(
            "Computer very slow",
            "Laptop slow",
            "PC running slow",
            "Performance issue",
            "Slow startup",
            "Everything freezes",
            "PC is sluggish",
            "Takes ages to log in",
            "Computer hanging",
            "High CPU",
        ),
        problems=(
            "My computer is very slow {day}, everything takes ages to open.",
            "My {device} takes 15 minutes to start up.",
            "Applications keep freezing and showing 'not responding'.",
            "Since the update my PC is really sluggish.",
            "{app} is extremely slow on my machine but fine for others.",
            "The fan is constantly running and the laptop is really slow.",
            "Logging in takes ages, it sits on the welcome screen.",
            "My PC keeps hanging when I have more than a few tabs open.",
            "Task manager shows 100% CPU and I can't do anything.",
            "The whole machine freezes for a few seconds every minute.",
            "Everything is painfully slow on {host}.",
            "It takes ages for anything to load and the spinning wheel never stops.",
            "My {device} grinds to a halt whenever Teams is open.",
        ),
        details=(
            "I've restarted it a few times.",
            "It's about four years old.",
            "It's making it impossible to work.",
            "It's worse in the morning.",
            "I only have Outlook and Excel open.",
        ),
        alerts=(
            (
                "High CPU usage on {host}",
                "CPU utilisation on {host} above 95% for 30 minutes.\nTop process: MsMpEng.exe",
            ),
            (
                "Memory usage critical: {host}",
                "Available memory on {host} below 5% for 20 minutes. Paging high.",
            ),
            (
                "Performance alert - {server}",
                "Average CPU queue length on {server} is 12 (threshold 4) for the last 15 min.",
            ),
            (
                "[RMM] Slow boot detected on {host}",
                "Boot time on {host} was 11 minutes (baseline 2 minutes).",
            ),
        ),
        chats=("pc super slow", "laptop slow again", "computer frozen", "everything slow today"),
        portal_category=("Performance", "Hardware", "Desktop support"),
    ),
    "software_install": PhraseBank(
        subjects=(
            "Software install request",
            "Please install {app}",
            "Need {app}",
            "Licence request",
            "Install software",
            "Application install",
            "Update {app}",
            "{app} licence",
            "Software request",
            "Install request",
        ),
        problems=(
            "Could you please install {app} on my {device}?",
            "I need {app} for a project, can you install it?",
            "Please can I get a licence for {app}?",
            "{app} says my licence has expired.",
            "Can you update {app} to the latest version?",
            "I need admin rights to install a plugin for {app}.",
            "{name} needs {app} installed before {date}.",
            "The {app} installer fails with error {error}.",
            "Can you uninstall the old version of {app} and install the new one?",
            "Please push {app} to all the {group} laptops.",
            "I need a program to open .dwg files.",
            "Can we get {app} activated? It's asking for a product key.",
        ),
        details=(
            "My manager has approved it.",
            "The licence cost is covered by the {group} budget.",
            "I need it by end of the week.",
            "It's for a client who sends files in that format.",
            "Download link is on the vendor's website.",
        ),
        chats=(
            "can u install {app}",
            "need {app} installed",
            "licence for {app} pls",
            "install {app} please",
        ),
        portal_category=("Software", "Software request", "Applications"),
    ),
    "onboarding": PhraseBank(
        subjects=(
            "New starter",
            "New starter - {name}",
            "New employee setup",
            "Onboarding request",
            "New user account",
            "Starter on {date}",
            "New joiner",
            "Setup for new hire",
            "New staff member",
            "New user request",
        ),
        problems=(
            "We have a new starter, {name}, joining as {role} on {date}.",
            "Please set up a new user account for {name} who starts {date}.",
            "{name} is joining the {group} team on {date} and will need a laptop, email and phone.",
            "New employee starting {date}: {name}, {role}. Please create their accounts.",
            "Can you prepare a laptop and accounts for our new hire?",
            "We're hiring two new {role}s who start {date}.",
            "Please onboard {name}, same access as {first} in {group}.",
            "A new temp is starting {date} and needs a login and email address.",
            "New starter form attached for {name}.",
            "Please create an Office 365 account and add {name} to the {group} distribution list.",
        ),
        details=(
            "They'll need access to {share}.",
            "Please order a laptop and second monitor.",
            "Their manager is {first}.",
            "They'll be based at {site}.",
            "Could you have everything ready for 9am on their first day?",
            "They will need {app} as well.",
        ),
        chats=("new starter monday", "need account for new hire", "new joiner next week"),
        portal_category=("New starter", "HR / People", "User accounts"),
    ),
    "offboarding": PhraseBank(
        subjects=(
            "Leaver",
            "Leaver - {name}",
            "Employee leaving",
            "Offboarding request",
            "Disable account",
            "Last day {date}",
            "Staff member leaving",
            "Remove user",
            "Termination - urgent",
            "Leaver process",
        ),
        problems=(
            "{name} is leaving the company, their last day is {date}.",
            "Please disable {name}'s account at 5pm today.",
            "A member of staff has been dismissed, please remove all access immediately.",
            "{name} left on {date}, please forward their email to {first} and disable the account.",
            "Leaver: {name}, {role}. Please collect the laptop and remove licences.",
            "Please convert {name}'s mailbox to a shared mailbox and remove the licence.",
            "Can you wipe and reassign the laptop of {name} who has left?",
            "Please revoke {name}'s VPN and remote access, they have resigned.",
            "Please remove {name} from all groups and block sign-in.",
            "{name} is finishing on {date}, can you arrange the leaver process?",
        ),
        details=(
            "Their manager {first} should get access to their OneDrive.",
            "Please set an out of office pointing to {mailbox}.",
            "HR have confirmed the date.",
            "They have a company phone that needs wiping.",
            "This is confidential, please don't mention it to them before Friday.",
        ),
        chats=("leaver today disable acct", "{first} left pls disable", "remove access for leaver"),
        portal_category=("Leaver", "HR / People", "User accounts"),
    ),
    "access_request": PhraseBank(
        subjects=(
            "Access request",
            "Access to shared folder",
            "Permission request",
            "Need access to {share}",
            "Access denied",
            "Add to group",
            "SharePoint access",
            "Folder permissions",
            "Access to {app}",
            "Request for access",
        ),
        problems=(
            "Could I please have access to {share}?",
            "I get access denied when opening {share}.",
            "Please add me to the {group} security group.",
            "Can you give {name} read access to {share}?",
            "I need edit rights on the {group} SharePoint site.",
            "Please grant me access to the {mailbox} shared mailbox.",
            "I need access to {app}, my manager has approved it.",
            "Can {first} have the same permissions as me on {share}?",
            "I can see the folder but can't edit anything in it.",
            "Please remove {name}'s access to {share}, they moved departments.",
            "I need access to the {group} Teams channel.",
            "Can I get access to the reporting database for {app}?",
        ),
        details=(
            "My manager {first} has approved this.",
            "I need it for the audit next week.",
            "Read only is fine.",
            "I've just moved to the {group} team.",
        ),
        chats=(
            "need access to {share}",
            "access denied on shared drive",
            "add me to {group} group",
            "permission to edit {share} pls",
        ),
        portal_category=("Access request", "Permissions", "User accounts"),
    ),
    "hardware": PhraseBank(
        subjects=(
            "Broken {peripheral}",
            "Hardware fault",
            "Laptop damaged",
            "{peripheral} not working",
            "New {peripheral} request",
            "Blue screen",
            "Laptop won't turn on",
            "Replacement needed",
            "Docking station issue",
            "Screen flickering",
        ),
        problems=(
            "My {peripheral} has stopped working.",
            "My {device} won't turn on at all.",
            "I spilled coffee on my keyboard and some keys don't work.",
            "The screen on my laptop is cracked.",
            "My {device} keeps getting a blue screen.",
            "Can I order a new {peripheral}? Mine is broken.",
            "The docking station doesn't detect my monitors anymore.",
            "My laptop battery only lasts 20 minutes.",
            "The {peripheral} flickers and goes black every few minutes.",
            "The laptop makes a loud clicking noise and gets very hot.",
            "We need {count} new laptops for the {group} team.",
            "The USB ports on my {device} stopped working.",
            "My headset microphone doesn't work in Teams calls.",
            "The {peripheral} I was given is faulty, can I swap it?",
            "Nothing happens when I press the power button on my {device}.",
            "My {device} charger stopped working and the battery is nearly dead.",
            "The display on my {device} has lines across it.",
        ),
        details=(
            "It's still under warranty I think.",
            "The serial number is on the sticker underneath.",
            "I've tried another cable.",
            "Can someone come and look at it?",
            "I work from {site}.",
        ),
        alerts=(
            (
                "Hardware alert: {server} disk predictive failure",
                "RAID controller reports predictive failure on physical disk 0:1:3 in {server}.",
            ),
            (
                "Power supply failure - {server}",
                "iDRAC: PSU 2 on {server} has failed. Redundancy lost.",
            ),
            (
                "SMART warning on {host}",
                "SMART status for disk 0 on {host}: reallocated sector count increasing.",
            ),
            (
                "Temperature alert: {server}",
                "Inlet temperature on {server} is 41°C (warning threshold 35°C). Fan 3 failed.",
            ),
            (
                "UPS on battery - {site}",
                "APC UPS at {site} switched to battery power. Battery runtime 12 minutes.",
            ),
            (
                "[RMM] Device offline: {host}",
                "Workstation {host} has not checked in for 3 days. Last user: {first}.",
            ),
            (
                "Memory error on {server}",
                "Correctable ECC memory errors exceeded threshold on DIMM B2 in {server}.",
            ),
            (
                "Battery health warning - {host}",
                "Laptop battery on {host} at 38% of design capacity. Replacement recommended.",
            ),
        ),
        chats=(
            "monitor broken",
            "laptop wont turn on",
            "need new mouse",
            "blue screen again",
            "keyboard not working",
        ),
        portal_category=("Hardware", "Equipment request", "Desktop support"),
    ),
    "backup": PhraseBank(
        subjects=(
            "Backup failed",
            "Restore request",
            "Need file restored",
            "Backup job failure",
            "Deleted files",
            "Recover previous version",
            "Backup not running",
            "Restore from backup",
            "Lost document",
            "Backup report",
        ),
        problems=(
            "I accidentally deleted {file}, can you restore it from backup?",
            "Could you restore {share} to how it was on {date}?",
            "The backup report shows failures for the last three nights.",
            "I overwrote {file}, is there a previous version?",
            "Can you check the backups are running? I haven't had a report {day}.",
            "Please restore {file} from last night's backup.",
            "The NAS backup job is failing with an error.",
            "We need to restore a mailbox that was deleted last month.",
            "Can you confirm the server backup is working before the migration?",
            "A folder has disappeared from the shared drive, please recover it.",
        ),
        details=(
            "It was there on {date}.",
            "It's really important, it has a month of work in it.",
            "I think someone moved it by mistake.",
            "The error says 'insufficient storage on target'.",
        ),
        alerts=(
            (
                "Backup job failed: {server}",
                "Veeam job 'Nightly-{server}' finished with Failed status.\nError: Failed to create VM snapshot.",
            ),
            (
                "[Backup] Job completed with warnings",
                "Backup job for {server} completed with warnings: 3 files skipped (in use).",
            ),
            ("Backup missed: {host}", "Datto: no successful backup for {host} in 72 hours."),
            (
                "Replication failure - offsite copy",
                "Offsite replication for {server} failed: target repository unreachable.",
            ),
        ),
        chats=(
            "can you restore a file",
            "deleted folder by mistake",
            "backup failed last night",
            "need previous version of a file",
        ),
        portal_category=("Backup / Restore", "Data recovery", "Storage"),
    ),
    "security_alert": PhraseBank(
        subjects=(
            "Suspicious email",
            "Phishing?",
            "Possible virus",
            "Security concern",
            "I clicked a link",
            "Ransomware warning",
            "Antivirus alert",
            "Hacked?",
            "Strange login notification",
            "Suspicious activity",
        ),
        problems=(
            "I received a suspicious email asking me to verify my account, is it phishing?",
            "I clicked a link in an email and entered my password, I think it was a scam.",
            "My antivirus popped up saying a threat was found.",
            "I think my email has been hacked, people are getting spam from me.",
            "We got an invoice email from a supplier with changed bank details, looks fake.",
            "There's a pop-up saying my files are encrypted and asking for payment.",
            "I got a login alert from an unknown location.",
            "A strange program has appeared on my PC and the mouse is moving by itself.",
            "Someone called claiming to be from Microsoft asking for remote access.",
            "Defender quarantined a file I downloaded.",
            "I opened an attachment and now Word is asking to enable macros.",
        ),
        details=(
            "I've not replied to it.",
            "I've disconnected from the network just in case.",
            "I've forwarded the email to you.",
            "Should I change my password?",
            "Several colleagues got the same email.",
        ),
        alerts=(
            (
                "Threat detected on {host}",
                "Endpoint protection: Trojan:Win32/Emotet quarantined on {host}.\nUser: {first}",
            ),
            (
                "Suspicious sign-in: {first}",
                "Impossible travel alert: sign-in for {first} from two countries within 10 minutes.",
            ),
            (
                "[SOC] Ransomware behaviour detected",
                "EDR detected mass file encryption on {host}. Device isolated from network.",
            ),
            (
                "Brute force attempt on {server}",
                "342 failed RDP logons against {server} from 185.220.101.4 in 5 minutes.",
            ),
            (
                "Malicious inbox rule created",
                "Defender for Office: inbox rule forwarding all mail externally created for {first}.",
            ),
        ),
        chats=("got a phishing email", "clicked a dodgy link", "virus popup", "think im hacked"),
        portal_category=("Security", "Security incident", "Virus / malware"),
    ),
    "other": PhraseBank(
        subjects=(
            "Question",
            "Quick question",
            "Meeting room screen",
            "Desk phone",
            "Invoice query",
            "Quote request",
            "Website update",
            "Office move",
            "Can you call me?",
            "Feedback",
            "Teams meeting setup",
            "Contract renewal",
            "Sprint planning board",
            "New Jira board",
            "Project kickoff",
            "Confluence page",
            "Roadmap meeting",
            "Training session",
        ),
        problems=(
            "Can someone give me a call when you have a minute?",
            "We're moving office in {date}, can you help plan it?",
            "Could you send us a quote for the new office?",
            "I have a question about last month's invoice.",
            "Can you update the opening hours on our website?",
            "The TV in the meeting room doesn't show anything from the laptop.",
            "My desk phone shows 'no service'.",
            "Can we book a technician visit for {date}?",
            "Please change the extension number for reception.",
            "Who do I speak to about renewing our support contract?",
            "Can you set up a Teams meeting room for the board meeting?",
            "Can you tell me what our IT budget was last year?",
            "We need a new door entry fob for {name}.",
            "Thanks for fixing the issue yesterday, all good now.",
            "The clock on the wall display is wrong.",
            "Can we set up a new Jira board for sprint planning?",
            "Please add a column called 'Review' to our Trello board.",
            "Could you create a Confluence page for the project kickoff?",
            "Can we schedule a planning session for the Q3 roadmap?",
            "Who owns the backlog for the intranet project?",
            "Can you run a short training session on Teams for the new team leads?",
        ),
        details=(
            "No rush on this one.",
            "Let me know what you need from us.",
            "I'm in the office all week.",
            "Happy to discuss on the phone.",
        ),
        chats=("quick question", "can someone call me", "invoice question", "thanks all sorted"),
        portal_category=("General request", "Other", "Question"),
    ),
}

#: the same requests as European clients write them (German, French, Spanish, Dutch)
FOREIGN_PROBLEMS: dict[str, tuple[str, ...]] = {
    "password_reset": (
        "Ich habe mein Passwort vergessen, bitte zurücksetzen.",
        "Mein Kennwort ist abgelaufen und ich kann es nicht ändern.",
        "J'ai oublié mon mot de passe, pouvez-vous le réinitialiser ?",
        "He olvidado mi contraseña y no puedo entrar.",
        "Ik ben mijn wachtwoord vergeten, kunnen jullie het resetten?",
    ),
    "account_lockout": (
        "Mein Konto ist gesperrt, zu viele Anmeldeversuche.",
        "Mon compte est verrouillé après plusieurs tentatives.",
        "Mi cuenta está bloqueada, por favor desbloquearla.",
        "Mijn account is geblokkeerd na te veel pogingen.",
    ),
    "mfa": (
        "Ich habe ein neues Handy und brauche die Authenticator App neu eingerichtet.",
        "Je ne reçois plus le code de vérification à deux facteurs.",
        "No me llega el código de verificación en dos pasos.",
        "Ik krijg geen MFA melding meer op mijn telefoon.",
    ),
    "printer": (
        "Der Drucker im {floor} druckt nicht mehr.",
        "Der Drucker zeigt Papierstau an und ist offline.",
        "L'imprimante du {floor} ne fonctionne plus, bourrage papier.",
        "La impresora no imprime, aparece como desconectada.",
        "De printer op de {floor} print niet meer.",
    ),
    "vpn": (
        "Ich kann mich von zu Hause nicht mit dem VPN verbinden.",
        "Le VPN ne se connecte plus depuis chez moi.",
        "No puedo conectarme a la VPN desde casa.",
        "De VPN verbinding valt steeds weg als ik thuis werk.",
    ),
    "wifi": (
        "Das WLAN im Büro bricht ständig ab.",
        "Le Wi-Fi ne marche pas dans la salle de réunion.",
        "El wifi de la oficina no funciona.",
        "De wifi in het kantoor valt steeds weg.",
    ),
    "email": (
        "Outlook startet nicht mehr und ich bekomme keine E-Mails.",
        "Ma boîte mail est pleine, je ne peux plus envoyer de messages.",
        "No recibo correos electrónicos desde esta mañana.",
        "Mijn mailbox is vol en ik kan geen e-mails versturen.",
    ),
    "disk_space": (
        "Die Festplatte C: ist voll, ich kann nichts mehr speichern.",
        "Le disque C: est plein, plus d'espace disponible.",
        "El disco duro está lleno, no hay espacio.",
        "Mijn C-schijf is vol, geen ruimte meer.",
    ),
    "slow_computer": (
        "Mein Computer ist seit dem Update extrem langsam.",
        "Mon ordinateur est très lent et se bloque souvent.",
        "Mi ordenador va muy lento y se congela.",
        "Mijn computer is heel traag sinds de update.",
    ),
    "software_install": (
        "Bitte installieren Sie {app} auf meinem Laptop.",
        "Pouvez-vous installer {app} sur mon poste ?",
        "Necesito que me instalen {app}, por favor.",
        "Kunnen jullie {app} op mijn laptop installeren?",
    ),
    "onboarding": (
        "Neuer Mitarbeiter {name} fängt am {date} an, bitte Konto und Laptop vorbereiten.",
        "Un nouveau collaborateur arrive le {date}, merci de créer son compte.",
        "Tenemos un nuevo empleado que empieza el {date}, necesita cuenta y portátil.",
        "Nieuwe medewerker {name} begint op {date}, graag account aanmaken.",
    ),
    "offboarding": (
        "{name} verlässt das Unternehmen, bitte das Konto zum {date} sperren.",
        "{name} quitte la société, merci de désactiver son compte.",
        "{name} deja la empresa, por favor desactivar su cuenta.",
        "{name} gaat uit dienst, graag het account blokkeren.",
    ),
    "access_request": (
        "Ich brauche Zugriff auf den Ordner {share}.",
        "Pouvez-vous me donner accès au dossier partagé {share} ?",
        "Necesito acceso a la carpeta compartida {share}.",
        "Ik heb toegang nodig tot de gedeelde map {share}.",
    ),
    "hardware": (
        "Mein Bildschirm ist kaputt und bleibt schwarz.",
        "Mon écran ne s'allume plus, il faut le remplacer.",
        "Mi portátil no enciende.",
        "Mijn toetsenbord is kapot, een paar toetsen werken niet.",
    ),
    "backup": (
        "Ich habe versehentlich eine Datei gelöscht, bitte aus dem Backup wiederherstellen.",
        "J'ai supprimé un dossier par erreur, pouvez-vous le restaurer ?",
        "Borré un archivo por error, ¿pueden recuperarlo de la copia de seguridad?",
        "Ik heb per ongeluk een bestand verwijderd, kunnen jullie het terugzetten?",
    ),
    "security_alert": (
        "Ich habe eine verdächtige E-Mail bekommen und auf den Link geklickt.",
        "J'ai reçu un e-mail de phishing, que dois-je faire ?",
        "Recibí un correo sospechoso pidiendo mi contraseña.",
        "Ik heb een verdachte phishing mail ontvangen.",
    ),
    "other": (
        "Können Sie mich bitte zurückrufen?",
        "J'ai une question sur la dernière facture.",
        "¿Pueden enviarnos un presupuesto para la nueva oficina?",
        "Kunnen jullie mij even terugbellen?",
    ),
}
FOREIGN_GREETINGS = ("Hallo", "Guten Morgen", "Bonjour", "Hola", "Goedemorgen", "Hallo allemaal")
FOREIGN_CLOSINGS = (
    "Danke",
    "Mit freundlichen Grüßen",
    "Merci",
    "Cordialement",
    "Gracias",
    "Saludos",
    "Bedankt",
    "Met vriendelijke groet",
)

GREETINGS = (
    "Hi",
    "Hello",
    "Hi team",
    "Hello IT",
    "Good morning",
    "Hi all",
    "Dear support",
    "Hiya",
    "Morning",
    "Hi {first}",
    "Hello helpdesk",
    "Good afternoon",
)
CLOSINGS = (
    "Thanks",
    "Thanks,",
    "Many thanks",
    "Kind regards,",
    "Regards",
    "Best regards,",
    "Cheers",
    "Thank you",
    "Thanks in advance",
    "Best,",
)
TITLES = (
    "Office Manager",
    "Finance Director",
    "Sales Executive",
    "Operations Lead",
    "Practice Manager",
    "Accounts Assistant",
    "Managing Director",
    "Project Coordinator",
)
COMPANIES = (
    "Contoso Ltd",
    "Fabrikam Dental",
    "Northwind Logistics",
    "Tailspin Legal LLP",
    "Adatum Accountants",
    "Woodgrove Architects",
    "Proseware Clinic",
    "Litware Retail",
)
DISCLAIMERS = (
    "This e-mail and any attachments are confidential and intended solely for the addressee. "
    "If you have received this e-mail in error please notify the sender and delete it.",
    "CONFIDENTIALITY NOTICE: This email message is intended only for the named recipient. "
    "If you received this message in error, please delete it.",
    "Disclaimer: the information in this email is confidential and may be legally privileged.",
    "Please consider the environment before printing this e-mail.",
)
ASIDES = (
    "Also, unrelated, the kitchen TV remote is missing.",
    "Separately, could someone call me about the invoice?",
    "PS: the meeting room clock is wrong again.",
    "On another note, thanks for your help last week.",
)
URGENCY_WORDS = ("", "", "", "URGENT: ", "Urgent - ", "ASAP: ", "High priority: ")


def _fill(template: str, rng: random.Random) -> str:
    """Replace each {slot} with a random value from SLOTS (unknown slots stay literal)."""
    return re.sub(
        r"\{(\w+)\}",
        lambda m: rng.choice(SLOTS[m.group(1)]) if m.group(1) in SLOTS else m.group(0),
        template,
    )


_KEYBOARD_NEIGHBOURS = "qwertyuiopasdfghjklzxcvbnm"


def add_typos(text: str, rng: random.Random, rate: float = 0.04) -> str:
    """Realistic finger slips: swapped, dropped, doubled or neighbouring letters."""
    words = text.split(" ")
    for i, word in enumerate(words):
        if len(word) < 4 or rng.random() > rate * 3:
            continue
        j = rng.randrange(1, len(word) - 1)
        kind = rng.randrange(4)
        if kind == 0:
            word = word[: j - 1] + word[j] + word[j - 1] + word[j + 1 :]
        elif kind == 1:
            word = word[:j] + word[j + 1 :]
        elif kind == 2:
            word = word[:j] + word[j] + word[j:]
        else:
            word = word[:j] + rng.choice(_KEYBOARD_NEIGHBOURS) + word[j + 1 :]
        words[i] = word
    return " ".join(words)


def _signature(rng: random.Random) -> str:
    lines = [_fill("{name}", rng)]
    if rng.random() < 0.6:
        lines.append(f"{rng.choice(TITLES)} | {rng.choice(COMPANIES)}")
    if rng.random() < 0.5:
        lines.append(f"Tel: +44 {rng.randrange(1000, 9999)} {rng.randrange(100000, 999999)}")
    if rng.random() < 0.3:
        lines.append("www.example.com")
    return "\n".join(lines)


def _pick(options: tuple[str, ...], rng: random.Random, tag: str) -> tuple[str, str]:
    """A random option and its template id (same RNG draw as ``rng.choice``)."""
    index = rng.randrange(len(options))
    return options[index], f"{tag}{index}"


def _email_body(bank: PhraseBank, rng: random.Random) -> tuple[str, str]:
    parts: list[str] = []
    if rng.random() < 0.75:
        parts.append(_fill(rng.choice(GREETINGS), rng) + ",")
    problem, template = _pick(bank.problems, rng, "problem")
    sentences = [_fill(problem, rng)]
    for _ in range(rng.choice((0, 1, 1, 2))):
        if bank.details:
            sentences.append(_fill(rng.choice(bank.details), rng))
    if rng.random() < 0.08:
        sentences.append(rng.choice(ASIDES))
    parts.append(" ".join(sentences))
    if rng.random() < 0.8:
        closing = rng.choice(CLOSINGS)
        parts.append(closing + ("\n" + _signature(rng) if rng.random() < 0.7 else ""))
    if rng.random() < 0.15:
        parts.append("Sent from my iPhone")
    if rng.random() < 0.2:
        parts.append(rng.choice(DISCLAIMERS))
    return "\n\n".join(parts), template


def _wrap_thread(body: str, subject: str, rng: random.Random) -> tuple[str, str]:
    """Turn a message into a reply (quote below) or a bare forward (message below header)."""
    who = _fill("{name}", rng)
    roll = rng.random()
    if roll < 0.5:
        quoted = "\n".join("> " + line for line in body.split("\n"))
        header = f"On Mon, 3 Jun 2024 at 09:{rng.randrange(10, 59)}, {who} <user@example.com> wrote:"
        followup = rng.choice(
            (
                "Any update on this?",
                "Still having this problem, please help.",
                "This is still happening today.",
                "Bumping this, any news?",
            )
        )
        return f"RE: {subject}", f"{followup}\n\n{header}\n{quoted}"
    if roll < 0.8:
        header = (
            f"-----Original Message-----\nFrom: {who}\nSent: Tuesday, 4 June 2024 08:15\n"
            f"To: Helpdesk\nSubject: {subject}"
        )
        lead = rng.choice(("FYI", "See below", "Please see below, can you help?", ""))
        return f"FW: {subject}", f"{lead}\n\n{header}\n\n{body}"
    header = f"From: {who} <user@example.com>\nSent: Tuesday, 4 June 2024 08:15\nTo: Support\nSubject: {subject}"
    return f"Fwd: {subject}", f"Forwarding from {who.split()[0]}.\n\n{header}\n\n{body}"


def _html(body: str) -> str:
    paragraphs = "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in body.split("\n\n"))
    return (
        (f"<html><head><style>p {{ font-family: Calibri; }}</style></head><body>{paragraphs}</body></html>")
        .replace("&", "&amp;")
        .replace("&amp;nbsp;", "&nbsp;")
    )


def _portal(bank: PhraseBank, rng: random.Random) -> tuple[str, str, str]:
    summary = _fill(rng.choice(bank.subjects), rng)
    problem, template = _pick(bank.problems, rng, "problem")
    description = " ".join(
        [_fill(problem, rng)]
        + [_fill(d, rng) for d in rng.sample(bank.details, k=min(len(bank.details), rng.randrange(2)))]
    )
    body = (
        f"Request type: {rng.choice(bank.portal_category)}\nSummary: {summary}\n"
        f"Description: {description}\nRequested by: {_fill('{name}', rng)}\n"
        f"Impact: {rng.choice(('Just me', 'My team', 'Whole office', 'Single user'))}"
    )
    return f"[Portal] {summary}", body, template


def _example(intent: str, rng: random.Random) -> SeedExample:
    bank = BANKS[intent]
    roll = rng.random()
    if bank.alerts and roll < 0.25:
        index = rng.randrange(len(bank.alerts))
        subject, body = (_fill(part, rng) for part in bank.alerts[index])
        return SeedExample(subject=subject, body=body, intent=intent, channel="alert", template=f"alert{index}")
    if roll < 0.4:
        subject, body, template = _portal(bank, rng)
        return SeedExample(subject=subject, body=body, intent=intent, channel="portal", template=template)
    if roll < 0.46 and intent in FOREIGN_PROBLEMS:
        greeting = rng.choice(FOREIGN_GREETINGS)
        foreign, template = _pick(FOREIGN_PROBLEMS[intent], rng, "foreign")
        body = "\n\n".join(
            [
                greeting + ",",
                _fill(foreign, rng),
                rng.choice(FOREIGN_CLOSINGS) + "\n" + _fill("{name}", rng),
            ]
        )
        subject = _fill(rng.choice(FOREIGN_PROBLEMS[intent]), rng).split(",")[0][:60]
        return SeedExample(subject=subject, body=body, intent=intent, channel="email", template=template)
    if roll < 0.5 and bank.chats:
        chat, template = _pick(bank.chats, rng, "chat")
        text = _fill(chat, rng)
        return SeedExample(subject="", body=add_typos(text, rng), intent=intent, channel="chat", template=template)
    subject = rng.choice(URGENCY_WORDS) + _fill(rng.choice(bank.subjects), rng)
    body, template = _email_body(bank, rng)
    if rng.random() < 0.3:
        body = add_typos(body, rng)
    if rng.random() < 0.1:
        body, subject = body.lower(), subject.lower()
    if rng.random() < 0.2:
        subject, body = _wrap_thread(body, subject, rng)
    if rng.random() < 0.1:
        body = _html(body)
    if rng.random() < 0.05:
        subject = rng.choice(("Help", "Issue", "Problem", "Support request", "IT help", ""))
    return SeedExample(subject=subject, body=body, intent=intent, channel="email", template=template)


def generate(per_intent: int = DEFAULT_PER_INTENT, seed: int = SEED) -> list[SeedExample]:
    """The seed corpus: ``per_intent`` examples for every built-in intent, deterministic.

    Duplicates (short chat lines repeat) are dropped so cross-validation does not leak.
    """
    rng = random.Random(seed)
    examples: list[SeedExample] = []
    seen: set[tuple[str, str]] = set()
    for intent in INTENT_IDS:
        made, attempts = 0, 0
        while made < per_intent and attempts < per_intent * 20:
            attempts += 1
            example = _example(intent, rng)
            key = (example.subject.lower(), example.body.lower())
            if key in seen:
                continue
            seen.add(key)
            examples.append(example)
            made += 1
    return examples


def write_corpus(examples: Iterable[SeedExample], path: Path = CORPUS_PATH) -> Path:
    """Write the corpus as gzip JSON lines with a fixed mtime, so rebuilds are byte-identical."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = "".join(json.dumps(e.model_dump(), ensure_ascii=False) + "\n" for e in examples)
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(payload.encode("utf-8"))
    return path


def load_corpus(path: Path = CORPUS_PATH) -> list[SeedExample]:
    """The shipped seed corpus (as written by :func:`write_corpus`)."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [SeedExample.model_validate_json(line) for line in handle if line.strip()]


#: Hand-written tickets kept apart from the phrase banks (never trained on): a small check of
#: how the shipped model handles wording that no template produced. (subject, body, intent)
HOLDOUT: tuple[tuple[str, str, str], ...] = (
    ("Cannot login", "It says my password is wrong but I'm sure it's right. Can you reset it?", "password_reset"),
    ("", "pls send me a new temp password, I'm stuck at the login screen", "password_reset"),
    ("Password", "Got a message saying my password expires in 1 day, how do I change it?", "password_reset"),
    ("Locked", "it says my account has been locked, please help", "account_lockout"),
    ("", "Keep getting 'account locked' on the remote desktop every morning", "account_lockout"),
    ("Unlock user", "Can you unlock Jenny's login? She tried too many times.", "account_lockout"),
    ("Authenticator", "I'm not getting the push notification on my phone to approve the login", "mfa"),
    ("", "Swapped my phone over the weekend, now I can't do the two-step verification", "mfa"),
    ("Verification codes", "The six digit codes from the app don't work anymore", "mfa"),
    ("Scan to folder", "The scanner no longer saves to the network folder", "printer"),
    ("", "Copier in accounts shows a jam but there's no paper stuck", "printer"),
    ("Printing", "Everything I print comes out faded", "printer"),
    ("Remote", "Cannot connect to the office network from home using GlobalProtect", "vpn"),
    ("", "The VPN says connected but I can't open any of the company drives", "vpn"),
    ("Working from home", "Remote connection to the office keeps timing out", "vpn"),
    ("wireless", "laptop keeps disconnecting from the wireless", "wifi"),
    ("", "Visitors in the boardroom can't get onto the guest network", "wifi"),
    ("Internet", "Internet is down in the whole office, wifi shows no internet!", "wifi"),
    ("Calendar", "My outlook calendar is not showing shared calendars anymore", "email"),
    ("", "Customers say my emails bounce back as undeliverable", "email"),
    ("Inbox", "I haven't had a single email since 9am, is the mail server down?", "email"),
    ("Storage", "My laptop is running out of storage, only 2GB left", "disk_space"),
    ("Server alert", "Disk C: on SRV-FS01 at 95%", "disk_space"),
    ("", "Can't save my file, Windows says there isn't enough space on the drive", "disk_space"),
    ("Slow", "Excel takes forever to open files and the whole pc lags", "slow_computer"),
    ("", "My machine is crawling, it takes minutes to open a browser", "slow_computer"),
    ("Freezing", "PC freezes several times an hour and I have to wait", "slow_computer"),
    ("Adobe", "Need adobe reader installed pls", "software_install"),
    ("", "Could we get Zoom put on the meeting room PC?", "software_install"),
    ("Licence", "Visio asks for a licence key when I open it", "software_install"),
    (
        "Joiner",
        "Hi, Maria Lopez starts as an accountant next Monday. Please set her up with a "
        "laptop, email and access to Sage.",
        "onboarding",
    ),
    ("", "We've hired a new receptionist starting on the 3rd, she'll need a login", "onboarding"),
    ("New hire", "Can you get an account ready for our new apprentice before Monday?", "onboarding"),
    ("Please disable", "Please disable Mark Jones' account, he no longer works here", "offboarding"),
    ("", "Kate's last day is Friday; forward her mail to me and remove her licence", "offboarding"),
    ("Leaver", "Steve has resigned, please block his access from 5pm", "offboarding"),
    ("Access", "Please give John edit rights to the Marketing SharePoint", "access_request"),
    ("", "I can't open the Board folder, it says I don't have permission", "access_request"),
    ("Permissions", "Could the new project team get write access to the Tenders drive?", "access_request"),
    ("Keyboard", "A few keys on my keyboard stopped working", "hardware"),
    ("", "The laptop charger is frayed and it won't charge anymore", "hardware"),
    ("Monitor", "One of my screens shows no signal", "hardware"),
    ("Veeam", "Job Daily backup failed for VM SQL01", "backup"),
    ("", "I saved over last week's price list, can you get the old one back?", "backup"),
    ("Recover", "Folder 'Contracts 2023' vanished from the S drive, can it be restored?", "backup"),
    ("Phish", "Got an email from our CEO asking me to buy gift cards, is this legit?", "security_alert"),
    ("", "Defender popped up saying it found malware on my laptop", "security_alert"),
    ("Weird login", "Microsoft says someone signed into my account from Brazil", "security_alert"),
    ("Invoice", "Can you resend last month's invoice to accounts?", "other"),
    ("", "Please can you call me back about the office move", "other"),
    ("Phones", "Our desk phones show 'no service' this morning", "other"),
    ("Scrum board", "Could the dev team get a scrum board for next sprint?", "other"),
    ("Planning", "Can we get a Kanban board set up for the marketing team's campaign planning?", "other"),
)


def holdout_examples() -> list[SeedExample]:
    """The hand-written holdout as examples (channel 'holdout')."""
    return [SeedExample(subject=s, body=b, intent=i, channel="holdout", template="holdout") for s, b, i in HOLDOUT]
