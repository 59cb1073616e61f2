//! The county's page, second version (issue 34), with the real binary serving and, where the
//! issue asks for what a clerk sees, a real browser at 420 and 1,280 px (screenshots in
//! `target/tmp/web-screenshots/`):
//! - 填报: a clerk types June into the form with one wrong figure, sees the error at its field
//!   (what was typed kept), corrects it, is asked for a 说明 for an unusual figure in the same
//!   form, gives it and submits; the store holds the figures, the archive the bytes the form
//!   made, the receipt says 第1版 on the page and by mail;
//! - one 说明 typed once for months 1–12 turns twelve checks 已说明 in the next digest, and the
//!   staff can send it back;
//! - with sign-off on, a month is 待负责人确认 until the 负责人's link confirms it;
//! - a form answers 303 to a result page; the same form posted twice acts once.

use crate::support::browser::{Browser, chromium_ready};
use crate::support::web::{SECRET, TOKEN, get, rt, served_with};
use crate::support::*;
use std::time::{Duration, Instant};

/// The anti-forgery token of a page (`u/341522`, `s/341522`, `bureau`), worked out by the test.
fn csrf(token: &str, page: &str) -> String {
    hmac16(token.as_bytes(), &format!("fayuan-form:{page}"))
}

/// A unit's link token and its 负责人's, worked out by the test.
fn unit_token(code: &str) -> String {
    hmac_token(SECRET.as_bytes(), code)
}
fn signoff_token(code: &str) -> String {
    hmac16(SECRET.as_bytes(), &format!("fayuan-signoff:{code}"))
}

/// A POST of a form, redirects not followed: (status, Location, body).
async fn post_form(url: &str, form: &[(&str, &str)]) -> (u16, String, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.post(url).form(form).send().await.unwrap();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (r.status().as_u16(), location, r.text().await.unwrap())
}

/// Types into a field of the page (after clearing it).
async fn type_into(b: &Browser, css: &str, text: &str) {
    let id = b.find(css).await;
    b.cmd(
        "POST",
        &format!("/element/{id}/clear"),
        serde_json::json!({}),
    )
    .await;
    b.cmd(
        "POST",
        &format!("/element/{id}/value"),
        serde_json::json!({ "text": text }),
    )
    .await;
}

async fn click(b: &Browser, css: &str) {
    let id = b.find(css).await;
    b.cmd(
        "POST",
        &format!("/element/{id}/click"),
        serde_json::json!({}),
    )
    .await;
}

/// Waits until the page's text says one of `words`.
async fn until(b: &Browser, words: &[&str]) -> String {
    let start = Instant::now();
    loop {
        let t = b.text().await;
        if words.iter().any(|w| t.contains(w)) {
            return t;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "waited for {words:?}: {t}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn width(b: &Browser, w: u32) {
    b.cmd(
        "POST",
        "/window/rect",
        serde_json::json!({"width": w, "height": 1600}),
    )
    .await;
}

/// Whether any text of the elements matched breaks inside a word (its lines' tops differ while
/// it is a single word).
async fn broken_words(b: &Browser, css: &str) -> serde_json::Value {
    let script = format!(
        "return Array.from(document.querySelectorAll('{css}')).filter(c => !/\\s/.test(c.innerText.trim()) && (() => {{ const r = document.createRange(); r.selectNodeContents(c); return new Set(Array.from(r.getClientRects()).map(x => Math.round(x.top))).size > 1; }})()).map(c => c.innerText)"
    );
    b.cmd(
        "POST",
        "/execute/sync",
        serde_json::json!({"script": script, "args": []}),
    )
    .await["value"]
        .clone()
}

#[test]
fn a_clerk_types_the_month_in_fixes_the_wrong_figure_explains_the_odd_one_and_gets_a_receipt() {
    if !chromium_ready() || !crate::support::smtp::python_ready() {
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
    let s = served_with("", &[("FAYUAN_SMTP_URL", &url)]);
    // 霍山县 has not sent June (the fixture leaves its file out).
    let page = s.county("341525");
    rt().block_on(async {
        let b = Browser::start().await;
        width(&b, 420).await;
        b.open(&page).await;
        // What is due, first: June, its deadline, not sent, with its one action.
        let todo = b.element_text("#todo").await;
        assert!(
            todo.starts_with("2025年6月数据应于 2025-07-05 24:00 前报送，已逾期：尚未报送 在线填报"),
            "{todo}"
        );
        // The unit's own figures of the year so far (months 1–5 of the samples).
        let figures = b.element_text("#figures").await;
        for label in ["完成率", "与序时进度差距", "完成率排名", "资金到位率", "业务经费支出率", "办案补贴及直接费用占比", "每10万人法律援助供给量"] {
            assert!(figures.contains(label), "{label}: {figures}");
        }
        // At 420 px no word breaks inside ("金/寨/县", "待/说/明"): the months are a list.
        assert_eq!(broken_words(&b, "#months li b, #figures dt").await, serde_json::json!([]));
        b.screenshot("county-v2-420px.png").await;
        click(&b, "#todo a").await;
        until(&b, &["2025年6月数据填报"]).await;
        // Every input has its label; last month's figure and the year so far beside it.
        let labels = b
            .cmd(
                "POST",
                "/execute/sync",
                serde_json::json!({"script": "return Array.from(document.querySelectorAll('#fill input:not([type=hidden]), #fill textarea')).filter(i => !document.querySelector('label[for=\"' + i.id + '\"]')).map(i => i.name)", "args": []}),
            )
            .await;
        assert_eq!(labels["value"], serde_json::json!([]), "inputs without a label");
        let hint = b.element_text("#field-cases_approved .hint").await;
        assert!(hint.starts_with("上月 ") && hint.contains("此前累计"), "{hint}");
        for (key, value) in [
            ("cases_approved", "十二"),
            ("cases_criminal", "2"),
            ("cases_civil", "9"),
            ("cases_admin", "1"),
            ("cases_closed", "10"),
            ("funds_received", "0"),
            ("spend_total", "7000"),
            ("spend_case", "5600"),
            ("complaints", "0"),
            ("complaints_resolved", "0"),
            ("surveyed", "10"),
            ("satisfied", "10"),
            ("reporter", "王芳"),
        ] {
            type_into(&b, &format!("#f-{key}"), value).await;
        }
        click(&b, "#submit").await;
        let t = until(&b, &["需要改正"]).await;
        assert!(t.contains("数据尚未保存"), "{t}");
        // The error is at its field; what was typed is kept.
        let error = b.element_text("#e-cases_approved").await;
        assert!(!error.is_empty(), "no error at 受理审批案件数");
        assert!(b.text().await.contains(&format!("受理审批案件数：{error}")));
        let kept = b
            .cmd(
                "POST",
                "/execute/sync",
                serde_json::json!({"script": "return [document.querySelector('#f-cases_approved').value, document.querySelector('#f-spend_case').value, document.querySelector('#f-reporter').value]", "args": []}),
            )
            .await;
        assert_eq!(kept["value"], serde_json::json!(["十二", "5600", "王芳"]));
        b.screenshot("fill-error-420px.png").await;
        assert!(s.env.store().files().unwrap().iter().all(|f| !f.file_name.contains("在线填报")), "nothing kept yet");
        // Corrected: 12 cases, well under a third of 霍山县's earlier median — a soft check,
        // asked in the same form.
        type_into(&b, "#f-cases_approved", "12").await;
        click(&b, "#submit").await;
        let t = until(&b, &["以下数据异常，尚未保存"]).await;
        assert!(t.contains("不足此前各月中位数的1/3"), "{t}");
        assert!(!b.element_text("#e-note").await.is_empty());
        b.screenshot("fill-soft-420px.png").await;
        type_into(&b, "#f-note", "6月系统切换，部分案件7月补录").await;
        click(&b, "#submit").await;
        let t = until(&b, &["已完成", "无法办理", "出错了"]).await;
        assert!(t.contains("已接收，1 行（6月第1版）"), "{t}");
        assert!(t.contains("回执已发送至 huoshan@example.gov.cn"), "{t}");
        b.screenshot("fill-done-420px.png").await;
        // F5 on the result page: the same result, nothing taken twice.
        b.cmd("POST", "/refresh", serde_json::json!({})).await;
        assert!(b.text().await.contains("6月第1版"));
        click(&b, "#back").await;
        until(&b, &["待办"]).await;
        width(&b, 1280).await;
        let todo = b.element_text("#todo").await;
        assert!(todo.contains("2025年6月数据（截止 2025-07-05 24:00）：已报送（第1版，2025-07-10"), "{todo}");
        b.screenshot("county-v2-1280px.png").await;
        // The form sent again unchanged (pre-filled from 第1版): no new version.
        click(&b, "#todo a").await;
        until(&b, &["该月现行数据为第1版"]).await;
        click(&b, "#submit").await;
        let t = until(&b, &["需要改正"]).await;
        assert!(t.contains("填报内容与现行第1版完全相同，未作修改，未保存"), "{t}");
    });
    // The store holds the figures; the archive the very bytes the form made.
    let rows = latest_rows(&s.env.store());
    let june = rows
        .iter()
        .find(|r| r["unit_code"] == "341525" && r["period"] == "2025-06")
        .expect("June of 霍山县 stored");
    assert_eq!(june["cases_approved"], "12");
    assert_eq!(june["spend_case"], "5600.0");
    assert_eq!(june["reporter"], "王芳");
    assert_eq!(june["note"], "6月系统切换，部分案件7月补录");
    let files = s.env.store().files().unwrap();
    let entry = files
        .iter()
        .find(|f| f.file_name.contains("在线填报"))
        .unwrap();
    let archived = s.env.data().join(&entry.stored_as);
    assert_eq!(sha256_of(&archived), entry.sha256);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&archived).unwrap()).unwrap();
    assert_eq!(json[0]["cases_approved"], "12");
    assert_eq!(json[0]["unit_code"], "341525");
    assert_eq!(json[0]["reported_on"], "2025-07-10");
    assert_eq!(
        files
            .iter()
            .filter(|f| f.file_name.contains("在线填报"))
            .count(),
        1
    );
    // One receipt by mail, in the unit's words.
    let receipts: Vec<String> = mail
        .received()
        .into_iter()
        .filter(|(rcpt, _)| rcpt.contains("huoshan@example.gov.cn"))
        .filter_map(|(_, raw)| {
            let m = mail_parser::MessageParser::default().parse(&raw)?;
            Some(format!("{}\n{}", m.subject()?, m.body_text(0)?))
        })
        .collect();
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    assert!(
        receipts[0].starts_with("回执：霍山县2025年6月月报（网上填报）"),
        "{}",
        receipts[0]
    );
    assert!(
        receipts[0].contains("已接收，1 行（6月第1版）"),
        "{}",
        receipts[0]
    );
}

/// A pipeline whose 霍邱县 spends 66% of its money on cases every month of 2025 (below the
/// plan's 70%): twelve 待说明 of one rule. Served as of 2026-01-10.
fn a_year_short_of_the_share(web: &str) -> crate::support::web::Served {
    let rows: String = (1..=12)
        .map(|m| format!("341522,2025-{m:02},30,30,0,0,5,70000,70000,46200,0,0,10,10\r\n"))
        .collect();
    crate::support::web::served_from(
        web,
        &[],
        &[(
            "霍邱县_2025全年.csv",
            format!("{}\r\n{rows}", crate::support::imap::HEADER),
        )],
        "2026-01-06 09:00",
        "2026-01-10 09:00",
    )
}

#[test]
fn one_note_typed_once_explains_the_twelve_months_of_a_rule_and_the_staff_can_send_it_back() {
    let s = a_year_short_of_the_share("");
    let token = unit_token("341522");
    rt().block_on(async {
        let (_, page) = get(&s.county("341522")).await;
        let pending = page
            .split("id=\"pending-head\"")
            .nth(1)
            .expect("a 待说明 section");
        assert!(
            pending.contains("1—12月（共12个月）本月办案补贴及直接费用占业务经费支出不足70%")
                || pending.contains("1—12月（共12个月）办案补贴及直接费用占业务经费支出不足70%"),
            "{pending}"
        );
        // One form for the rule, every month ticked.
        assert_eq!(pending.matches("name=\"month\"").count(), 12, "{pending}");
        let c = csrf(&token, "u/341522");
        let mut form: Vec<(&str, String)> = vec![
            ("csrf", c.clone()),
            ("once", "0123456789abcdef0123456789abcdef".into()),
            ("check", "case_share_month".into()),
            (
                "text",
                "全年经费中含一次性设备购置，办案补贴占比因此偏低".into(),
            ),
            ("who", "李明".into()),
        ];
        for m in 1..=12 {
            form.push(("month", m.to_string()));
        }
        let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let explain = format!("{}/explain", s.county("341522"));
        let (code, location, _) = post_form(&explain, &f).await;
        assert_eq!(code, 303);
        assert_eq!(
            location,
            format!("/u/341522/{token}/done/0123456789abcdef0123456789abcdef")
        );
        let (code, done) = get(&s.url(&location)).await;
        assert_eq!(code, 200, "{done}");
        assert!(done.contains("霍邱县说明2025年1—12月"), "{done}");
        assert!(
            done.contains(&format!("href=\"/u/341522/{token}\"")),
            "a way back: {done}"
        );
        // Posted again (F5 before the redirect, a double click): the same result, one 说明.
        let (code, again, _) = post_form(&explain, &f).await;
        assert_eq!((code, again.as_str()), (303, location.as_str()));
        let record = s.env.run(&["audit", "--unit", "341522"]).stdout;
        assert_eq!(record.matches("说明2025年1—12月").count(), 1, "{record}");
        assert!(record.contains("李明"), "{record}");
        // The page no longer asks; the staff's page lists it with a form to send it back.
        let (_, page) = get(&s.county("341522")).await;
        assert!(!page.contains("id=\"pending-head\""), "{page}");
    });
    // The next digest and its checks: twelve 已说明, none 待说明.
    let r = s.env.run(&[
        "--as-of",
        "2026-01-10 10:00",
        "run",
        "--no-email",
        "--period",
        "2025-12",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let dir = s.env.tmp.path().join("output/luan-2025/2025-12");
    let checks = std::fs::read_to_string(dir.join("checks.csv")).unwrap();
    let share: Vec<&str> = checks
        .lines()
        .filter(|l| l.contains("341522") && l.contains("case_share_month"))
        .collect();
    assert_eq!(share.len(), 12, "{checks}");
    assert!(
        share
            .iter()
            .all(|l| l.contains("true") && l.contains("一次性设备购置")),
        "{checks}"
    );
    let digest = std::fs::read_to_string(dir.join("digest.txt")).unwrap();
    assert!(!digest.contains("霍邱县1—12月（共12个月）"), "{digest}");
    assert!(!digest.contains("待说明"), "{digest}");
    // Sent back by the staff with a reason: 待说明 again, the reason on the unit's page.
    rt().block_on(async {
        let act = s.url(&format!("/bureau/act?token={TOKEN}&period=2025-12"));
        let c = csrf(TOKEN, "bureau");
        let (code, location, _) = post_form(
            &act,
            &[
                ("csrf", c.as_str()),
                ("action", "note_back"),
                ("unit", "341522"),
                ("check", "case_share_month"),
                ("months", "1,2,3,4,5,6,7,8,9,10,11,12"),
                ("reason", "设备购置不属于业务经费，请核实口径"),
            ],
        )
        .await;
        assert_eq!(code, 303);
        let (_, done) = get(&s.url(&location)).await;
        assert!(done.contains("退回霍邱县2025年1—12月"), "{done}");
        let (_, page) = get(&s.county("341522")).await;
        assert!(
            page.contains("此前的说明已被市局退回：设备购置不属于业务经费，请核实口径"),
            "{page}"
        );
    });
}

#[test]
fn with_sign_off_a_month_waits_for_the_units_leader_and_lateness_follows_the_clerk() {
    if !crate::docs::python_docx_ready() {
        return;
    }
    let s = served_with("county_signoff = true\n", &[]);
    let lead = s.url(&format!("/s/341522/{}", signoff_token("341522")));
    rt().block_on(async {
        // The clerk's page says the month waits for the 负责人.
        let (_, page) = get(&s.county("341522")).await;
        let todo = page.split("id=\"todo\"").nth(1).unwrap();
        assert!(todo.contains("1—6月数据待负责人确认"), "{todo}");
        // The 负责人's link: June's version and its figures, a form.
        let (code, signing) = get(&lead).await;
        assert_eq!(code, 200, "{signing}");
        assert!(
            signing.contains("2025年6月（第1版）") && signing.contains("受理审批案件数"),
            "{signing}"
        );
        // The clerk's link is not the 负责人's, nor the other way round.
        let (code, _) = get(&s.url(&format!("/s/341522/{}", unit_token("341522")))).await;
        assert_eq!(code, 404);
        let c = csrf(&signoff_token("341522"), "s/341522");
        // No name: asked again at the field, nothing signed.
        let (code, _, body) = post_form(
            &format!("{lead}/sign"),
            &[("csrf", c.as_str()), ("month", "2025-06:1"), ("name", " ")],
        )
        .await;
        assert_eq!(code, 400, "{body}");
        assert!(
            body.contains("id=\"name-error\">请填写负责人姓名后再确认。"),
            "{body}"
        );
        assert!(
            !s.env
                .run(&["audit", "--unit", "341522"])
                .stdout
                .contains("负责人")
        );
        let (code, location, _) = post_form(
            &format!("{lead}/sign"),
            &[
                ("csrf", c.as_str()),
                ("month", "2025-06:1"),
                ("name", "赵局长"),
            ],
        )
        .await;
        assert_eq!(code, 303);
        let (_, done) = get(&s.url(&location)).await;
        assert!(
            done.contains("霍邱县负责人赵局长确认2025年6月数据（第1版）"),
            "{done}"
        );
        // June is signed; January to May still wait.
        let (_, page) = get(&s.county("341522")).await;
        assert!(page.contains("1—5月数据待负责人确认"), "{page}");
        assert_eq!(crate::support::web::month_item(&page, 6), "已报");
        assert_eq!(
            crate::support::web::month_item(&page, 5),
            "逾期，待负责人确认"
        );
    });
    // The report names the months still unsigned (not 霍邱县's June); lateness is the clerk's.
    // (alerts.csv and the 通报's words of a report made as of `at`)
    let report = |at: &str| -> (String, String) {
        let r = s
            .env
            .run(&["--as-of", at, "run", "--no-email", "--period", "2025-06"]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        let dir = s.env.tmp.path().join("output/luan-2025/2025-06");
        let notice = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "docx"))
            .expect("the 通报");
        let text: String = crate::docs::read_docx(&notice)["paragraphs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["text"].as_str().unwrap().to_string())
            .collect();
        (
            std::fs::read_to_string(dir.join("alerts.csv")).unwrap(),
            text,
        )
    };
    let (alerts, text) = report("2025-07-10 10:00");
    assert!(
        alerts.lines().any(|l| l.contains("unsigned")
            && l.contains("341522")
            && l.contains("2025年1—5月数据尚待本单位负责人确认")),
        "{alerts}"
    );
    assert!(
        alerts.lines().any(|l| l.contains("unsigned")
            && l.contains("341523")
            && l.contains("2025年1—6月数据尚待本单位负责人确认")),
        "{alerts}"
    );
    // The 通报 names them in its 报送情况.
    assert!(text.contains("霍邱县2025年1—5月、"), "{text}");
    assert!(text.contains("数据尚未经本单位负责人确认。"), "{text}");
    // The bureau rewords the alert (texts/alerts.txt): the 通报's list is not made from its words.
    let texts = s.env.pipeline.parent().unwrap().join("texts");
    std::fs::create_dir_all(&texts).unwrap();
    let builtin =
        std::fs::read_to_string(crate::support::repo().join("src/texts/alerts.txt")).unwrap();
    let reworded = builtin.replace("月数据尚待本单位负责人确认", "月报表请负责人在报送页面签认");
    assert_ne!(reworded, builtin);
    std::fs::write(texts.join("alerts.txt"), reworded).unwrap();
    let (alerts, text) = report("2025-07-10 10:05");
    assert!(
        alerts.contains("2025年1—5月报表请负责人在报送页面签认"),
        "{alerts}"
    );
    assert!(text.contains("霍邱县2025年1—5月、"), "{text}");
    assert!(!text.contains("签认"), "{text}");
    // Lateness follows the clerk's submission: 舒城县's June (sent 8 July) is 逾期, signed or not.
    rt().block_on(async {
        let (_, page) = get(&s.county("341523")).await;
        assert_eq!(
            crate::support::web::month_item(&page, 6),
            "逾期，待负责人确认"
        );
    });
    // Without sign-off the links do not exist.
    let off = served_with("", &[]);
    rt().block_on(async {
        let (code, _) = get(&off.url(&format!("/s/341522/{}", signoff_token("341522")))).await;
        assert_eq!(code, 404);
    });
    let r = off
        .env
        .run_env(&["links", "--signoff"], &[("FAYUAN_WEB_SECRET", SECRET)]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("county_signoff"), "{}", r.stderr);
    let r = s
        .env
        .run_env(&["links", "--signoff"], &[("FAYUAN_WEB_SECRET", SECRET)]);
    assert!(
        r.stdout.contains(&format!(
            "341522 霍邱县负责人 http://127.0.0.1:{}/s/341522/{}",
            s.port,
            signoff_token("341522")
        )),
        "{}",
        r.stdout
    );
}

#[test]
fn an_upload_answers_303_to_its_result_and_the_same_form_sent_twice_is_taken_once() {
    let s = served_with("", &[]);
    let url = s.county("341525");
    let token = unit_token("341525");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = || {
        reqwest::multipart::Form::new()
            .text("once", "fedcba9876543210fedcba9876543210")
            .part(
                "file",
                reqwest::multipart::Part::bytes(
                    std::fs::read(repo().join("samples/luan-2025/霍山县_2025-06.xlsx")).unwrap(),
                )
                .file_name("霍山县_2025-06.xlsx"),
            )
    };
    rt().block_on(async {
        let r = client.post(&url).multipart(form()).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 303);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        assert_eq!(
            location,
            format!("/u/341525/{token}?result=fedcba9876543210fedcba9876543210")
        );
        let (code, page) = get(&s.url(&location)).await;
        assert_eq!(code, 200);
        assert!(
            page.contains("霍山县_2025-06.xlsx：已接收，1 行（6月第1版）"),
            "{page}"
        );
        // The same form again (F5 on the POST, a double click): its result, nothing taken.
        let r = client.post(&url).multipart(form()).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 303);
        assert_eq!(r.headers()["location"].to_str().unwrap(), location);
    });
    let files = s.env.store().files().unwrap();
    assert_eq!(
        files
            .iter()
            .filter(|f| f.file_name.contains("霍山县_2025-06.xlsx"))
            .count(),
        1,
        "taken once"
    );
}

/// An upload that finds no slot of its unit within `body_timeout_seconds` (issue 35 §6) is
/// answered 503 with words for the clerk and nothing kept — never a wait without end. Here the
/// unit's two slots are held by two uploads waiting for the write lock (held by another process);
/// another unit's upload is not held up by them; when the lock is free all three are taken.
#[test]
fn an_upload_that_finds_no_slot_within_the_wait_is_answered_503_and_nothing_is_kept() {
    let s = served_with("body_timeout_seconds = 2\n", &[]);
    let lock = s.env.data().join(".fayuan.lock");
    let mut holder = std::process::Command::new("flock")
        .arg(&lock)
        .args(["sleep", "8"])
        .spawn()
        .expect("flock (util-linux) holds the write lock");
    std::thread::sleep(Duration::from_millis(300));
    let post = |code: &str, name: &str, month: u32| {
        let url = s.county(code);
        let body = format!(
            "{}\r\n{}\r\n",
            crate::support::imap::HEADER,
            crate::support::imap::csv_row(code, month, 20 + month as i64)
        );
        let name = name.to_string();
        async move {
            let form = reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(body.into_bytes()).file_name(name),
            );
            let r = reqwest::Client::new()
                .post(url)
                .multipart(form)
                .timeout(Duration::from_secs(60))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    rt().block_on(async {
        let first = tokio::spawn(post("341522", "霍邱县_2025-07.csv", 7));
        let second = tokio::spawn(post("341522", "霍邱县_2025-08.csv", 8));
        tokio::time::sleep(Duration::from_millis(800)).await;
        let asked = Instant::now();
        let (status, page) = post("341522", "霍邱县_2025-09.csv", 9).await;
        assert_eq!(status, 503, "{page}");
        assert!(
            page.contains("上传繁忙") && page.contains("文件未保存"),
            "{page}"
        );
        assert!(
            asked.elapsed() < Duration::from_secs(6),
            "{:?}",
            asked.elapsed()
        );
        // Another unit is not held up by 霍邱县's slots (it waits for the lock like the rest).
        let other = tokio::spawn(post("341523", "舒城县_2025-07.csv", 7));
        for t in [first, second, other] {
            let (status, page) = t.await.unwrap();
            assert_eq!(status, 200, "{page}");
        }
    });
    let _ = holder.wait();
    let names: Vec<String> = s
        .env
        .store()
        .files()
        .unwrap()
        .into_iter()
        .map(|f| f.file_name)
        .collect();
    assert!(!names.iter().any(|n| n.contains("2025-09")), "{names:?}");
    for n in ["霍邱县_2025-07", "霍邱县_2025-08", "舒城县_2025-07"] {
        assert!(names.iter().any(|x| x.contains(n)), "{n}: {names:?}");
    }
}
