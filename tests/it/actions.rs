//! 指导督促 through the pages (issue 25 items 1, 4 and 6): named staff tokens act on the bureau's
//! page and every action is recorded under their name; a county answers its own item on its
//! page; a forged request (no or a wrong anti-forgery token, another page's, GET instead of
//! POST, a county link acting on another unit's item) is refused with 403 and changes nothing.

use crate::support::web::{SECRET, served_with};
use crate::support::*;

const ZHANG: &str = "staff-token-zhangsan-0123456789";
const LI: &str = "staff-token-lisi-0123456789abcd";

/// The anti-forgery token of a page (`bureau`, `u/341522`) for a token, computed by the test.
fn csrf(token: &str, page: &str) -> String {
    hmac16(token.as_bytes(), &format!("fayuan-form:{page}"))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn post(url: &str, form: &[(&str, &str)]) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[test]
fn staff_act_on_the_page_under_their_names_and_forged_requests_change_nothing() {
    // A real mail server: the page's return and item reach the unit (aiosmtpd; see python_ready).
    if !crate::support::smtp::python_ready() {
        return;
    }
    let mail_dir = tempfile::tempdir().unwrap();
    let mail = crate::support::smtp::Server::start(
        "smtp",
        crate::support::smtp::free_port(),
        mail_dir.path(),
        &[],
    );
    let url = format!("smtp://127.0.0.1:{}", mail.port);
    let s = served_with(
        "\n[[web.staff]]\nname = \"张三\"\ntoken_env = \"FAYUAN_TOKEN_ZHANG\"\n\n[[web.staff]]\nname = \"李四\"\ntoken_env = \"FAYUAN_TOKEN_LI\"\n",
        &[
            ("FAYUAN_TOKEN_ZHANG", ZHANG),
            ("FAYUAN_TOKEN_LI", LI),
            ("FAYUAN_SMTP_URL", &url),
        ],
    );
    let to_huoqiu = |subject: &str| {
        mail.received()
            .into_iter()
            .filter(|(rcpt, raw)| {
                rcpt.ends_with("huoqiu@example.gov.cn.eml")
                    && mail_parser::MessageParser::default()
                        .parse(raw)
                        .and_then(|m| m.subject().map(|x| x.contains(subject)))
                        .unwrap_or(false)
            })
            .count()
    };
    let record = || s.env.run(&["audit"]).stdout;
    let act = s.url(&format!("/bureau/act?token={ZHANG}&period=2025-06"));
    let month = |csrf: &str| {
        vec![
            ("csrf".to_string(), csrf.to_string()),
            ("action".into(), "return".into()),
            ("unit".into(), "341522".into()),
            ("period".into(), "2025-06".into()),
            ("reason".into(), "刑事案件数与台账不符，请核实".into()),
        ]
    };
    rt().block_on(async {
        // The page shows who is signed in and carries the page's anti-forgery token.
        let (code, page) = crate::support::web::get(&s.url(&format!("/bureau?token={ZHANG}"))).await;
        assert_eq!(code, 200);
        assert!(page.contains("指导督促操作（张三）"), "{page}");
        assert!(page.contains(&format!("name=\"csrf\" value=\"{}\"", csrf(ZHANG, "bureau"))));
        let before = record();
        // Forged: no token, a wrong one, another person's, the county page's; GET.
        for bad in ["", "0123456789abcdef0123456789abcdef", &csrf(LI, "bureau"), &csrf(ZHANG, "u/341522")] {
            let f = month(bad);
            let f: Vec<(&str, &str)> = f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            let (code, body) = post(&act, &f).await;
            assert_eq!(code, 403, "csrf {bad:?}: {body}");
        }
        let (code, _) = crate::support::web::get(&format!(
            "{act}&csrf={}&action=return&unit=341522&period=2025-06&reason=x",
            csrf(ZHANG, "bureau")
        ))
        .await;
        assert_eq!(code, 403, "GET");
        // A return without a reason: said in Chinese, nothing done.
        let c = csrf(ZHANG, "bureau");
        let (code, body) = post(
            &act,
            &[("csrf", c.as_str()), ("action", "return"), ("unit", "341522"), ("period", "2025-06"), ("reason", " ")],
        )
        .await;
        assert_eq!(code, 400, "{body}");
        assert!(body.contains("请填写退回原因"), "{body}");
        assert_eq!(record(), before, "nothing changed");
        let st = s.env.run(&["status", "--period", "2025-06"]).stdout;
        assert!(!st.contains("已退回待修改"), "{st}");

        // Genuine: the return, recorded under 张三's name, on the county's page.
        let f = month(&csrf(ZHANG, "bureau"));
        let f: Vec<(&str, &str)> = f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let (code, body) = post(&act, &f).await;
        assert_eq!(code, 200, "{body}");
        assert!(body.contains("已退回霍邱县2025年6月。通知已发出。"), "{body}");
        // One 退回通知 to the unit's contact, none from the forged requests.
        assert_eq!(to_huoqiu("2025年6月月报退回修改"), 1);
        let rec = record();
        assert!(
            rec.lines().any(|l| l.contains("张三") && l.contains("退回霍邱县2025年6月：刑事案件数与台账不符")),
            "{rec}"
        );
        let (_, county) = crate::support::web::get(&s.county("341522")).await;
        assert!(county.contains("刑事案件数与台账不符，请核实"), "{county}");
        // At once, not a minute later: the grid says 已退回 on both pages.
        assert!(county.contains("<li class=\"returned\" data-month=\"6\"><b>6月</b>：已退回"), "{county}");
        let (_, bureau) = crate::support::web::get(&s.url(&format!("/bureau?token={ZHANG}&period=2025-06"))).await;
        assert!(bureau.contains("<td class=\"returned\" data-month=\"6\">已退回</td>"), "{bureau}");
        // The corrected June through the unit's page closes it, and the result says so (a
        // second later: the server's clock runs on from --as-of, and only a later file corrects).
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let csv = format!("{}\r\n{}\r\n", crate::support::imap::HEADER, crate::support::imap::csv_row("341522", 6, 33));
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(csv.into_bytes()).file_name("霍邱县_2025-06.csv"),
        );
        let r = reqwest::Client::new().post(s.county("341522")).multipart(form).send().await.unwrap();
        let body = r.text().await.unwrap();
        assert!(
            body.contains("2025年6月数据此前被退回修改（刑事案件数与台账不符，请核实），本次报送的新版本已收到，该退回已办结。"),
            "{body}"
        );

        // 李四 opens an item on 霍邱县 with their own token and page.
        let act_li = s.url(&format!("/bureau/act?token={LI}&period=2025-06"));
        let c = csrf(LI, "bureau");
        let (code, body) = post(
            &act_li,
            &[("csrf", c.as_str()), ("action", "supervise"), ("unit", "341522"), ("text", "请说明支出率偏低原因"), ("due", "2025-07-31")],
        )
        .await;
        assert_eq!(code, 200, "{body}");
        assert!(record().lines().any(|l| l.contains("李四") && l.contains("交办督办事项 1")));
        assert_eq!(to_huoqiu("督办事项1：霍邱县"), 1);

        // The county's page offers the answer form; 金寨县's link cannot answer 霍邱县's item.
        let (_, county) = crate::support::web::get(&s.county("341522")).await;
        assert!(county.contains("请说明支出率偏低原因") && county.contains("提交答复"), "{county}");
        let before = record();
        let jinzhai = format!("{}/answer", s.county("341524"));
        let cj = csrf(&hmac_token(SECRET.as_bytes(), "341524"), "u/341524");
        let (code, body) = post(&jinzhai, &[("csrf", cj.as_str()), ("item", "1"), ("text", "不是我们的事")]).await;
        assert_eq!(code, 403, "{body}");
        // 霍邱县's form token on 金寨县's link, and 霍邱县's link without one.
        let huoqiu = format!("{}/answer", s.county("341522"));
        let ch = csrf(&hmac_token(SECRET.as_bytes(), "341522"), "u/341522");
        let (code, _) = post(&jinzhai, &[("csrf", ch.as_str()), ("item", "1"), ("text", "x")]).await;
        assert_eq!(code, 403);
        let (code, _) = post(&huoqiu, &[("item", "1"), ("text", "x")]).await;
        assert_eq!(code, 403);
        let (code, _) = crate::support::web::get(&format!("{huoqiu}?csrf={ch}&item=1&text=x")).await;
        assert_eq!(code, 403);
        assert_eq!(record(), before, "nothing changed");
        // 霍邱县 answers on its own page.
        let (code, body) = post(&huoqiu, &[("csrf", ch.as_str()), ("item", "1"), ("text", "已核实，系经费拨付滞后，8月补足。")]).await;
        assert_eq!(code, 200, "{body}");
        assert!(body.contains("督办事项 1 的答复已收到"), "{body}");
        let (_, page) = crate::support::web::get(&s.url(&format!("/bureau?token={LI}"))).await;
        assert!(
            page.contains("——答复：") && page.contains("霍邱县（报送页面）：已核实，系经费拨付滞后，8月补足。"),
            "{page}"
        );
        // 张三 closes it.
        let c = csrf(ZHANG, "bureau");
        let (code, body) = post(&act, &[("csrf", c.as_str()), ("action", "close"), ("item", "1")]).await;
        assert_eq!(code, 200, "{body}");
        let rec = record();
        assert!(rec.lines().any(|l| l.contains("霍邱县（报送页面）") && l.contains("答复督办事项 1")), "{rec}");
        // The bureau's page links each unit's record; 霍邱县's shows the same events.
        let (code, page) = crate::support::web::get(&s.url(&format!("/bureau/record?token={LI}&unit=341522"))).await;
        assert_eq!(code, 200);
        for want in ["退回霍邱县2025年6月", "交办督办事项 1", "答复督办事项 1", "办结督办事项 1"] {
            assert!(page.contains(want), "{want}: {page}");
        }
        assert!(!page.contains("金寨县"), "{page}");
        let (code, _) = crate::support::web::get(&s.url("/bureau/record?token=wrong-token-0123456789abcdef&unit=341522")).await;
        assert_eq!(code, 404);
        assert!(rec.lines().any(|l| l.contains("张三") && l.contains("办结督办事项 1")), "{rec}");
    });
    let r = s.env.run(&["audit", "--verify"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // The year's review keeps it: 霍邱县 returned once, one item opened, answered and closed.
    let (summary, details) = supervision_record(&s.env, "2025-07-11 09:00", "霍邱县");
    assert_eq!(summary, ["1", "0", "1", "1", "1", "0"], "{details:?}");
    assert_eq!(details.len(), 4, "{details:?}");
    assert!(
        details[0].contains("退回 张三 退回霍邱县2025年6月：刑事案件数与台账不符"),
        "{details:?}"
    );
    assert!(details[3].contains("办结督办 张三"), "{details:?}");
    let (jinzhai, _) = supervision_record(&s.env, "2025-07-11 09:00", "金寨县");
    assert_eq!(jinzhai, ["0", "0", "0", "0", "0", "0"]);
}

/// The year's review (`fayuan review --year 2025` as of `at`): the 督促记录 sheet's summary row
/// of a unit (退回, 确认, 交办督办, 答复督办, 办结督办, 催报) and every detail line, as text.
pub fn supervision_record(env: &Env, at: &str, unit: &str) -> (Vec<String>, Vec<String>) {
    let r = env.run(&["--as-of", at, "review", "--year", "2025"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let mut stack = vec![env.tmp.path().to_path_buf()];
    let mut book = None;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.ends_with(".history") {
                stack.push(p);
            } else if p.parent().is_some_and(|d| d.ends_with("review-2025"))
                && p.extension().is_some_and(|e| e == "xlsx")
            {
                book = Some(p);
            }
        }
    }
    let book = book.unwrap_or_else(|| panic!("no review workbook: {}", r.stdout));
    let mut wb = calamine::open_workbook_auto(&book).unwrap();
    let sheet = calamine::Reader::worksheet_range(&mut wb, "督促记录").unwrap();
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    let summary = rows
        .iter()
        .find(|r| r[0] == unit)
        .unwrap_or_else(|| panic!("{unit} in {rows:?}"))[1..7]
        .to_vec();
    let details = rows
        .iter()
        .filter(|r| r.get(1).is_some_and(|c| c == unit))
        .map(|r| r.join(" "))
        .collect();
    (summary, details)
}

#[test]
fn the_same_form_posted_twice_acts_once_and_shows_the_first_result() {
    // Issue 34 §5: a double click on 交办 (two POSTs of the same form at once) or F5 on its answer
    // makes one 督办事项 and one notice; both answers show the first result. A form from a page
    // loaded again carries a new key and acts.
    let s = served_with(
        "\n[[web.staff]]\nname = \"张三\"\ntoken_env = \"FAYUAN_TOKEN_ZHANG\"\n",
        &[("FAYUAN_TOKEN_ZHANG", ZHANG)],
    );
    let page_url = s.url(&format!("/bureau?token={ZHANG}&period=2025-06"));
    let act = s.url(&format!("/bureau/act?token={ZHANG}&period=2025-06"));
    let key_of = |page: &str| {
        let form = &page[page.find("id=\"act-supervise\"").expect("the 交办 form")..];
        let at = form.find("name=\"once\" value=\"").unwrap() + "name=\"once\" value=\"".len();
        form[at..at + 32].to_string()
    };
    rt().block_on(async {
        let (_, page) = crate::support::web::get(&page_url).await;
        let once = key_of(&page);
        let c = csrf(ZHANG, "bureau");
        let form = [
            ("csrf", c.as_str()),
            ("once", once.as_str()),
            ("action", "supervise"),
            ("unit", "341522"),
            ("text", "请说明支出率偏低原因"),
            ("due", "2025-07-31"),
        ];
        let (a, b) = tokio::join!(post(&act, &form), post(&act, &form));
        assert_eq!((a.0, b.0), (200, 200), "{}\n{}", a.1, b.1);
        assert!(
            a.1.contains("已交办督办事项 1") && b.1.contains("已交办督办事项 1"),
            "{}\n{}",
            a.1,
            b.1
        );
        // F5 on the answer: the same form again.
        let (code, again) = post(&act, &form).await;
        assert_eq!(code, 200);
        assert!(again.contains("已交办督办事项 1"), "{again}");
        let items = std::fs::read_to_string(s.env.data().join("supervision/items.jsonl")).unwrap();
        assert_eq!(items.lines().count(), 1, "{items}");
        // The page loaded again: a new key, a new item.
        let (_, page) = crate::support::web::get(&page_url).await;
        let fresh = key_of(&page);
        assert_ne!(fresh, once);
        let mut form2 = form;
        form2[1] = ("once", fresh.as_str());
        let (_, second) = post(&act, &form2).await;
        assert!(second.contains("已交办督办事项 2"), "{second}");
    });
}
